"""TAILOR_VLLM_API_KEY reaches a vLLM server started with --api-key: as a Bearer token on the backend's
requests and on the hot-reload path's adapter load; with no key, no Authorization header at all."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agents.synthesis.factory import open_backend
from agents.synthesis.vllm_backend import VllmBackend
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
