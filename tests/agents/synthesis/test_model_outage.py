"""Model server down or slow: bounded retries with backoff and timeouts, then the window is held (not
dropped) until the server answers; with the rules fallback it degrades instead of waiting."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agents.synthesis.base import BackendUnavailable, SynthesisJob
from agents.synthesis.vllm_backend import VllmBackend
from agents.synthesis.vllm_backend_config import VllmBackendConfig
from agents.tasks.base import SynthesisContext, TaskSpec
from agents.tasks.catalog import families
from core.metrics import TailorMetrics
from core.ports import free_port
from core.records import Anchor, AnchorSet, SourceSpan
from streaming.settings import TailorSettings


def anchors() -> AnchorSet:
    span = SourceSpan(topic="raw", partition=0, first_offset=0, last_offset=9, start_time=0.0, end_time=1.0)
    return AnchorSet(
        window_id="robot:ep:0",
        domain="robot",
        key="ep",
        span=span,
        num_frames=10,
        created_at=0.0,
        instruction="put the carrot on the plate",
        anchors=[
            Anchor(anchor_id="g0", type="gripper_close", frame_index=3, timestamp=0.3),
            Anchor(
                anchor_id="s0",
                type="subtask",
                frame_index=0,
                end_frame_index=3,
                timestamp=0.0,
                content="reach",
            ),
            Anchor(
                anchor_id="s1",
                type="subtask",
                frame_index=4,
                end_frame_index=9,
                timestamp=0.4,
                content="carry",
            ),
        ],
    )


def job() -> tuple[Any, SynthesisContext]:
    family = {f.name: f for f in families()}["next_subtask"]
    ctx = SynthesisContext(anchors(), TaskSpec("next_subtask", "i-1", "robot"))
    assert family.rule_output(ctx) is not None
    return family, ctx


class Answer(BaseHTTPRequestHandler):
    text = "{}"

    def do_POST(self) -> None:  # an OpenAI-compatible answer
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps(
            {"choices": [{"message": {"content": Answer.text}}], "usage": {"completion_tokens": 5}}
        )
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        return None


def backend(port: int, retries: int = 1) -> VllmBackend:
    return VllmBackend(
        VllmBackendConfig(
            url=f"http://127.0.0.1:{port}", model="m", retries=retries, backoff_s=0.05, request_timeout_s=2.0
        )
    )


def test_unreachable_server_fails_after_bounded_retries() -> None:
    family, ctx = job()
    b = backend(free_port(), retries=2)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as err:
        asyncio.run(b.synthesize(SynthesisJob(family, ctx, n=1)))
    assert err.value.reason == "model_unavailable"
    assert time.monotonic() - started >= 0.05 + 0.1  # backed off twice


def stage(settings: TailorSettings, port: int, fallback: bool) -> Any:
    from streaming.synthesis_stage import SynthesisStage

    s = settings.model_copy(
        update={"synth_unavailable_backoff_s": 0.2, "synth_fallback_rules": fallback, "synth_candidates": 1}
    )
    return SynthesisStage(s, backend(port), {}, None, TailorMetrics(CollectorRegistry()), None, None)  # type: ignore[arg-type]


def test_window_is_held_while_the_model_is_down_and_goes_through_when_it_returns(tmp_path: Any) -> None:
    family, ctx = job()
    port = free_port()
    st = stage(TailorSettings(data_dir=tmp_path), port, fallback=False)
    Answer.text = family.rule_output(ctx).model_dump_json()

    async def run() -> Any:
        task = asyncio.create_task(st.run_job(family, ctx))
        await asyncio.sleep(1.0)
        assert not task.done()  # held, not dropped
        server = ThreadingHTTPServer(("127.0.0.1", port), Answer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            return await asyncio.wait_for(task, timeout=30)
        finally:
            server.shutdown()

    result = asyncio.run(run())
    assert [e.model for e in result.accepted] == ["m"]
    assert st.metrics.synthesis_errors.labels("vllm", "model_unavailable")._value.get() >= 1


def test_rules_fallback_degrades_instead_of_waiting(tmp_path: Any) -> None:
    family, ctx = job()
    st = stage(TailorSettings(data_dir=tmp_path), free_port(), fallback=True)
    result = asyncio.run(asyncio.wait_for(st.run_job(family, ctx), timeout=30))
    assert [e.model for e in result.accepted] == ["rules"]


def test_malformed_model_output_is_rejected_never_accepted(tmp_path: Any) -> None:
    family, ctx = job()
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for text, reason in (("not json at all", "invalid_json"), ('{"next": 3}', "schema_mismatch")):
            Answer.text = text
            result = asyncio.run(stage(TailorSettings(data_dir=tmp_path), port, False).run_job(family, ctx))
            assert result.accepted == [] and result.rejected[0].reasons == [reason]
    finally:
        server.shutdown()
