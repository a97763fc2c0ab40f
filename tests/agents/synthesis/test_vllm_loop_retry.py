"""Candidates cut at the token budget (a loop inside a string: never valid JSON under the window's constraint)
are asked for again with a frequency penalty that doubles per try; whole candidates are left alone, the
second requests ask only for the cut ones, the cut texts stay in the group after the others (rejected
candidates for preference pairs), and the worker's settings reach the backend and the gate."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

import bench.quality
from agents.synthesis.base import SynthesisJob
from agents.synthesis.factory import open_backend
from agents.synthesis.vllm_backend import VllmBackend
from agents.synthesis.vllm_backend_config import VllmBackendConfig
from app.trainer_service import quality_evaluator
from bench.quality_config import QualityBenchConfig
from streaming.settings import TailorSettings
from tests.agents.synthesis.test_model_outage import job, stage

LOOP = '{"input_range":[0,3],"next_subtask":{"text":"carry (carry (carry (carry'


class Looper(BaseHTTPRequestHandler):
    """Answers each request's n candidates: in the first `cut_replies` replies of a run they are cut at the
    budget (finish_reason length), but for the first candidate of the first reply when `keep_first`; later
    replies are whole."""

    bodies: list[dict[str, Any]] = []
    whole = "{}"
    cut_replies = 1
    keep_first = True

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Looper.bodies.append(body)
        reply = len(Looper.bodies)
        cuts = [
            reply <= Looper.cut_replies and (i > 0 or reply > 1 or not Looper.keep_first)
            for i in range(body["n"])
        ]
        choices = [
            {
                "message": {"content": LOOP if cut else Looper.whole},
                "finish_reason": "length" if cut else "stop",
            }
            for cut in cuts
        ]
        data = json.dumps({"choices": choices, "usage": {"completion_tokens": 10 * body["n"]}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def looper() -> Iterator[str]:
    family, ctx = job()
    Looper.bodies, Looper.whole, Looper.keep_first = [], family.rule_output(ctx).model_dump_json(), True
    server = ThreadingHTTPServer(("127.0.0.1", 0), Looper)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def generate(url: str, n: int, **config: Any) -> Any:
    family, ctx = job()
    backend = VllmBackend(VllmBackendConfig(url=url, model="m", **config))

    async def run() -> Any:
        try:
            return await backend.synthesize(SynthesisJob(family, ctx, n=n))
        finally:
            await backend.close()

    return asyncio.run(run())


def test_cut_candidates_are_asked_for_again_with_a_rising_penalty(looper: str) -> None:
    Looper.cut_replies = 2  # the first retry loops again, the second is whole
    gen = generate(looper, 4, loop_retry_penalty=0.3, loop_retries=2)
    first, again, third = Looper.bodies
    assert "frequency_penalty" not in first and first["n"] == 4
    # only the three cut candidates, under the same window constraint and budget
    assert again["n"] == 3 and again["frequency_penalty"] == 0.3
    assert third["n"] == 3 and third["frequency_penalty"] == 0.6
    assert again["structured_outputs"] == first["structured_outputs"]
    assert again["max_tokens"] == first["max_tokens"]
    # the answers take the cut candidates' places; the six cut texts follow, kept for preference pairs
    assert gen.texts == [Looper.whole] * 4 + [LOOP] * 6 and gen.extra["loop_retried"] == 6
    assert gen.extra["cut_at_max_tokens"] == 6 and gen.completion_tokens == 40 + 30 + 30
    family, ctx = job()
    assert all(family.parse(t) == family.rule_output(ctx) for t in gen.texts[:4])


def test_the_stage_counts_the_candidates_asked_for_again(looper: str, tmp_path: Any) -> None:
    """The worker's synthesis stage (default settings: on) accepts the answer, rejects the loop it replaced and
    counts the retries."""
    family, ctx = job()
    Looper.cut_replies, Looper.keep_first = 1, False
    st = stage(TailorSettings(data_dir=tmp_path), int(looper.rsplit(":", 1)[1]), fallback=False)
    result = asyncio.run(asyncio.wait_for(st.run_job(family, ctx), timeout=30))
    assert [b["n"] for b in Looper.bodies] == [1, 1] and Looper.bodies[1]["frequency_penalty"] == 0.3
    assert [e.model for e in result.accepted] == ["m"]
    # the loop is judged too: a rejected candidate of the same prompt, the other side of a preference pair
    assert [r.reasons for r in result.rejected] == [["invalid_json"]]
    assert st.metrics.synthesis_loop_retries.labels("vllm")._value.get() == 1


def test_retries_stop_at_their_bound_and_keep_what_is_there(looper: str) -> None:
    Looper.cut_replies = 99
    gen = generate(looper, 2, loop_retry_penalty=0.3, loop_retries=2)
    assert [b["n"] for b in Looper.bodies] == [2, 1, 1]
    assert gen.texts == [Looper.whole, LOOP, LOOP, LOOP] and gen.extra["cut_at_max_tokens"] == 3


@pytest.mark.parametrize(
    "config",
    [{"loop_retry_penalty": 0.0}, {"loop_retries": 0}, {"structured": False}],
    ids=["no-penalty", "no-retries", "unconstrained"],
)
def test_no_second_request_when_it_is_off(looper: str, config: dict[str, Any]) -> None:
    Looper.cut_replies = 99
    gen = generate(looper, 2, **config)
    assert len(Looper.bodies) == 1 and gen.texts[1] == LOOP and gen.extra["loop_retried"] == 0


def test_the_worker_and_the_gate_take_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    settings = TailorSettings(
        synth_backend="vllm",
        vllm_url="http://127.0.0.1:1",
        synth_loop_retry_penalty=0.5,
        synth_loop_retries=3,
    )
    backend = open_backend(settings, 1.0, False).backend
    assert isinstance(backend, VllmBackend)
    assert (backend.config.loop_retry_penalty, backend.config.loop_retries) == (0.5, 3)
    seen: list[QualityBenchConfig] = []
    monkeypatch.setattr(
        bench.quality, "run_quality_bench", lambda _b, _s, config: seen.append(config) or {"per_case": []}
    )
    quality_evaluator(settings)(SimpleNamespace(base_model_dir=tmp_path, adapter_dir=None))
    assert (seen[0].loop_retry_penalty, seen[0].loop_retries) == (0.5, 3)
    # on by default, as measured on dev (VllmBackendConfig.loop_retry_penalty)
    assert TailorSettings().synth_loop_retry_penalty == QualityBenchConfig().loop_retry_penalty == 0.3
