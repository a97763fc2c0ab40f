"""What a vLLM request asks for: the window's constraint, a budget from its schema, and, when set, the
frequency penalty against phrase loops (left out at 0, the default)."""

from __future__ import annotations

from agents.synthesis.base import SynthesisJob
from agents.synthesis.vllm_backend import VllmBackend
from agents.synthesis.vllm_backend_config import VllmBackendConfig
from agents.tasks.constrained import to_regex
from streaming.settings import TailorSettings
from tests.agents.synthesis.test_model_outage import job


def test_requests_carry_the_window_constraint_and_the_frequency_penalty() -> None:
    family, ctx = job()
    messages = [{"role": "user", "content": "x"}]
    body = VllmBackend(VllmBackendConfig(url="http://127.0.0.1:1", model="m", frequency_penalty=0.6)).payload(
        SynthesisJob(family, ctx, n=2), messages
    )
    assert body["structured_outputs"] == {"regex": to_regex(family.decoding_schema(ctx))}
    assert body["frequency_penalty"] == 0.6 and body["n"] == 2 and body["max_tokens"] < 768
    off = VllmBackend(VllmBackendConfig(url="http://127.0.0.1:1", model="m")).payload(
        SynthesisJob(family, ctx, n=2), messages
    )
    assert (
        "frequency_penalty" not in off
    )  # off by default (measured: fewer accepted candidates when sampling)
    # the worker's setting defaults to the backend's
    assert TailorSettings.model_fields["synth_frequency_penalty"].default == 0.0
