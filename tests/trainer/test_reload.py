"""Hot reload of a published adapter, for real: into the in-process transformers backend (logits and output
change), and into a running vLLM CPU server (runtime LoRA loading) when its environment exists."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from agents.synthesis.base import Generation, SynthesisJob
from agents.synthesis.hf_backend import HfBackend
from agents.synthesis.hf_backend_config import HfBackendConfig
from agents.synthesis.rules_backend import RulesBackend
from agents.synthesis.vllm_backend import VllmBackend
from agents.synthesis.vllm_backend_config import VllmBackendConfig
from tests.conftest import SMOL_SERVED
from tests.trainer.conftest import PublishedRound
from trainer.preferences import CandidateGroup
from trainer.reload import apply_update
from trainer.weights import WeightsError

log = logging.getLogger(__name__)

pytestmark = pytest.mark.slow


def last_logits(backend: HfBackend, prompt: list[dict[str, str]]) -> Any:
    import torch

    model, tokenizer = backend.load()
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        return model(**inputs).logits[0, -1].float()


def test_hf_backend_takes_up_the_published_adapter(
    dpo_round: PublishedRound, smol_dir: Path, groups: list[CandidateGroup]
) -> None:
    update = dpo_round.result.update
    assert update is not None
    group = groups[5]  # a window the round did not train on
    backend = HfBackend(HfBackendConfig(model_dir=smol_dir, temperature=0.0, max_new_tokens=48))
    job = SynthesisJob(group.family, group.ctx, n=1)
    base_logits = last_logits(backend, group.prompt())
    base_gen = asyncio.run(backend.synthesize(job))
    assert backend.weights_version is None

    forged = update.model_copy(update={"sha256": "0" * 64})
    with pytest.raises(WeightsError) as err:
        apply_update(forged, dpo_round.store, backend)
    # the record on the topic says another hash than the store announced: refused before any file is read
    assert err.value.reason == "announcement_mismatch" and backend.weights_version is None

    folder = apply_update(update, dpo_round.store, backend)
    assert folder == dpo_round.store.resolve(update)
    assert backend.weights_version == "v1" and backend.config.adapter_dir == folder
    tuned_logits = last_logits(backend, group.prompt())
    diff = float((tuned_logits - base_logits).abs().max())
    tuned_gen = asyncio.run(backend.synthesize(job))
    log.warning(
        "HF reload: max |logit change| %.4f; base %r; tuned %r",
        diff,
        base_gen.texts[0][:80],
        tuned_gen.texts[0][:80],
    )
    assert diff > 1e-2  # the adapter is in use
    assert tuned_gen.weights_version == "v1"


def test_backends_without_weights_and_full_updates_are_refused(
    dpo_round: PublishedRound, smol_dir: Path
) -> None:
    update = dpo_round.result.update
    assert update is not None
    with pytest.raises(WeightsError) as err:
        apply_update(update, dpo_round.store, RulesBackend())
    assert err.value.reason == "unsupported_backend"
    backend = HfBackend(HfBackendConfig(model_dir=smol_dir))
    with pytest.raises(WeightsError) as err:
        apply_update(update.model_copy(update={"kind": "full"}), dpo_round.store, backend)
    assert err.value.reason == "unsupported_kind"


def chat_logprobs(base_url: str, model: str, prompt: list[dict[str, str]]) -> list[float]:
    body = {"model": model, "messages": prompt, "max_tokens": 8, "temperature": 0.0, "logprobs": True}
    req = urllib.request.Request(
        base_url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        data = json.loads(resp.read())
    return [float(t["logprob"]) for t in data["choices"][0]["logprobs"]["content"]]


async def synthesize_once(backend: VllmBackend, job: SynthesisJob) -> Generation:
    try:
        return await backend.synthesize(job)
    finally:
        await backend.close()


def test_vllm_server_loads_the_adapter_at_run_time(
    dpo_round: PublishedRound, smol_vllm: str, groups: list[CandidateGroup]
) -> None:
    update = dpo_round.result.update
    assert update is not None
    group = groups[5]
    backend = VllmBackend(
        VllmBackendConfig(
            url=smol_vllm,
            model=SMOL_SERVED,
            max_tokens=32,
            temperature=0.0,
            structured=False,
            retries=0,
        )
    )
    base = chat_logprobs(smol_vllm, SMOL_SERVED, group.prompt())
    apply_update(update, dpo_round.store, backend)
    assert backend.weights_version == "v1"
    gen = asyncio.run(synthesize_once(backend, SynthesisJob(group.family, group.ctx, n=1)))
    assert gen.model == "v1" and gen.weights_version == "v1" and gen.texts[0]
    tuned = chat_logprobs(smol_vllm, "v1", group.prompt())
    log.warning("vLLM reload: base logprobs %s, adapter %s", base[:4], tuned[:4])
    assert base != tuned  # the server answers with the adapter under its version name
    apply_update(update, dpo_round.store, backend)  # already loaded (a rollback re-announces it): no error
    assert backend.weights_version == "v1"
