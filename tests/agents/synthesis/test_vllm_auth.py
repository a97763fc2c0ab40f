"""TAILOR_VLLM_API_KEY reaches a vLLM server started with --api-key: as a Bearer token on the backend's
requests, on the hot-reload path's adapter load and on the trainer gate's; with no key, no Authorization."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import bench.quality
from agents.synthesis.factory import open_backend
from agents.synthesis.vllm_backend import VllmBackend
from app.trainer_service import quality_evaluator
from bench.backends import ADAPTER_FILE, VllmBench
from bench.quality_config import QualityBenchConfig
from streaming.settings import TailorSettings
from trainer.reload import VllmReloader

KEY = "s3cret-key"


class FakeVllm(BaseHTTPRequestHandler):
    """Refuses requests without the right key, like vLLM's --api-key on /v1/*; records what it was sent."""

    seen: list[tuple[str, str, str | None]] = []
    loaded: set[str] = set()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        auth = self.headers.get("Authorization")
        self.seen.append((self.command, self.path, auth))
        if auth != f"Bearer {KEY}":
            self._answer(401, {"error": "Unauthorized"})
            return False
        return True

    def do_GET(self) -> None:
        if self.path == "/health":  # open, as in vLLM: the probes carry no key
            self._answer(200, {})
            return
        if self._authorised():
            self._answer(200, {"data": [{"id": m} for m in ["smollm2", *sorted(self.loaded)]]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self._authorised():
            self.loaded.add(body["lora_name"])
            self._answer(200, {})


@pytest.fixture
def fake_vllm() -> Iterator[str]:
    FakeVllm.seen, FakeVllm.loaded = [], set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeVllm)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def backend_for(url: str, key: str | None) -> VllmBackend:
    settings = TailorSettings(synth_backend="vllm", vllm_url=url, vllm_api_key=key)
    handle = open_backend(settings, 1.0, False)
    assert isinstance(handle.backend, VllmBackend)
    return handle.backend


def test_the_key_is_a_bearer_token_on_requests_and_adapter_loads(fake_vllm: str, tmp_path: Path) -> None:
    backend = backend_for(fake_vllm, KEY)
    assert KEY not in repr(backend.config), "the key stays out of reprs and logs"

    async def models() -> int:
        resp = await backend.client().get("/v1/models")
        await backend.client().aclose()
        return resp.status_code

    assert asyncio.run(models()) == 200
    VllmReloader().apply(backend, tmp_path, SimpleNamespace(version="tailor-v1"))  # type: ignore[arg-type]
    assert FakeVllm.loaded == {"tailor-v1"} and backend.weights_version == "tailor-v1"
    assert [s[:2] for s in FakeVllm.seen] == [
        ("GET", "/v1/models"),
        ("GET", "/v1/models"),
        ("POST", "/v1/load_lora_adapter"),
        ("GET", "/v1/models"),
    ]
    assert {auth for *_r, auth in FakeVllm.seen} == {f"Bearer {KEY}"}


def test_no_key_sends_no_authorization(fake_vllm: str) -> None:
    backend = backend_for(fake_vllm, None)

    async def models() -> int:
        resp = await backend.client().get("/v1/models")
        await backend.client().aclose()
        return resp.status_code

    assert asyncio.run(models()) == 401
    assert FakeVllm.seen == [("GET", "/v1/models", None)]


def test_the_trainer_gate_loads_candidates_with_the_key(
    fake_vllm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With TAILOR_VLLM_URL set the gate benchmarks on vLLM (gate_backend auto): its config carries the key,
    and its bench backend sends it on the candidate's adapter load and on the requests."""
    seen: list[QualityBenchConfig] = []
    monkeypatch.setattr(
        bench.quality, "run_quality_bench", lambda _b, _s, config: seen.append(config) or {"per_case": []}
    )
    settings = TailorSettings(vllm_url=fake_vllm, vllm_api_key=KEY)
    quality_evaluator(settings)(SimpleNamespace(base_model_dir=tmp_path, adapter_dir=None))
    (config,) = seen
    assert config.vllm_api_key is not None and config.vllm_api_key.get_secret_value() == KEY

    adapter = tmp_path / "candidate"
    adapter.mkdir()
    (adapter / ADAPTER_FILE).write_bytes(b"weights")
    with ExitStack() as stack:
        backend = VllmBench(config.model_copy(update={"weights": adapter})).open(stack)
        assert isinstance(backend, VllmBackend)

        async def models() -> int:
            resp = await backend.client().get("/v1/models")
            await backend.client().aclose()
            return resp.status_code

        assert asyncio.run(models()) == 200
    assert [s[:2] for s in FakeVllm.seen] == [("POST", "/v1/load_lora_adapter"), ("GET", "/v1/models")]
    assert {auth for *_r, auth in FakeVllm.seen} == {f"Bearer {KEY}"}
