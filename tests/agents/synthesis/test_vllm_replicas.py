"""Two real CPU vLLM servers of SmolLM2 behind one synthesis backend: requests are spread with a bound per
server, a dead replica is taken out and tried again later, and a hot reload loads the adapter on both before
the backend uses it (a replica that lost it, as after a restart, is given it again)."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents.synthesis.base import Generation, SynthesisJob
from agents.synthesis.vllm_backend import VllmBackend
from agents.synthesis.vllm_backend_config import VllmBackendConfig
from agents.vllm_server import VllmServer
from agents.vllm_server_config import VllmServerConfig
from core.ports import free_port
from tests.agents.test_vllm_server import real_jobs
from tests.trainer.test_store import make_adapter
from trainer.reload import apply_update
from trainer.store import ModelStore
from trainer.weights import WeightsError

REPO = Path(__file__).resolve().parents[3]
VENV = REPO / ".venv-vllm"
MODEL = REPO / ".cache/models/SmolLM2-135M-Instruct"
SERVED = "smol"

pytestmark = pytest.mark.slow  # two CPU servers: about 3 minutes to start on the shared 2-core machine


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two servers, started one after the other from this (long-lived) thread: a server is told to stop when
    the thread that started it ends."""
    if not (VENV / "bin/python").exists() or not (MODEL / "manifest.json").exists():
        pytest.skip("the vLLM environment or the model cache is missing (run `make setup`)")
    logs = tmp_path_factory.mktemp("vllm")
    servers = []
    try:
        for i in range(2):
            config = VllmServerConfig(
                venv=VENV,
                model_dir=MODEL,
                served_model_name=SERVED,
                max_model_len=4096,
                kv_cache_memory_bytes=512 << 20,  # two servers on a shared 2-core machine: a small cache each
                log_file=logs / f"server{i}.log",
            )
            server = VllmServer(config)
            server.start()
            servers.append(server)
        yield [s.base_url for s in servers if s.base_url]
    finally:
        for s in servers:
            s.stop()


def backend(urls: list[str], **extra: Any) -> VllmBackend:
    return VllmBackend(
        VllmBackendConfig(
            url=urls[0],
            replica_urls=urls[1:],
            model=SERVED,
            max_tokens=8,
            temperature=0.0,
            structured=False,
            retries=3,
            backoff_s=0.1,
            **extra,
        )
    )


def jobs(count: int) -> list[SynthesisJob]:
    """Real windows of the benchmark's dev split, the shortest prompts first (CPU prefill is the cost here)."""
    found = [SynthesisJob(f, ctx, n=1) for f, ctx in real_jobs(per_family=2)]
    probe = VllmBackend(VllmBackendConfig(url="http://unused", model=SERVED))
    found.sort(key=lambda j: len(str(probe.messages(j))))
    return [found[i % 3] for i in range(count)]


def successes(url: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("vllm:request_success_total{")
    )


def served(url: str) -> set[str]:
    return {m["id"] for m in httpx.get(url + "/v1/models", timeout=10).json()["data"]}


def run(b: VllmBackend, batch: list[SynthesisJob]) -> tuple[list[Generation], dict[str, Any]]:
    """The generations (every one must succeed) and the pool's per-replica counters."""

    async def go() -> tuple[list[Any], dict[str, Any]]:
        try:
            out = await b.synthesize_many(batch)
            return out, {r.url: r for r in b.pool().replicas}
        finally:
            await b.close()

    out, pool = asyncio.run(go())
    ok(out)
    return out, pool


def test_requests_spread_over_both_replicas_within_their_bound(replicas: list[str]) -> None:
    before = {u: successes(u) for u in replicas}
    _, pool = run(backend(replicas, concurrency=2), jobs(6))
    gained = {u: successes(u) - before[u] for u in replicas}
    assert sum(gained.values()) == 6 and all(g >= 2 for g in gained.values()), gained
    assert all(r.peak_in_flight <= 2 for r in pool.values())
    assert all(r.taken_out == 0 for r in pool.values())
    print(f"requests per replica {gained}; peak in flight {[r.peak_in_flight for r in pool.values()]}")


def test_a_dead_replica_is_taken_out_and_tried_again_later(replicas: list[str]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    b = backend([replicas[0], dead], replica_cooldown_s=15.0)

    async def scenario() -> dict[str, int]:
        try:
            seen = {}
            ok(await b.synthesize_many(jobs(2)))  # the dead one is refused, its request retried on the other
            down = b.pool().replicas[1]
            seen["taken_out"], seen["picks"] = down.taken_out, down.picks
            ok(await b.synthesize_many(jobs(1)))  # within the cooldown: not asked at all
            seen["picks_while_out"] = down.picks - seen["picks"]
            await asyncio.sleep(max(0.0, down.down_until - time.monotonic()) + 0.1)
            ok(await b.synthesize_many(jobs(2)))  # the cooldown has passed: asked again (and taken out again)
            seen["taken_out_after"] = down.taken_out
            return seen
        finally:
            await b.close()

    seen = asyncio.run(scenario())
    assert seen == {"taken_out": 1, "picks": seen["picks"], "picks_while_out": 0, "taken_out_after": 2}, seen


def ok(out: list[Any]) -> None:
    failed = [g for g in out if isinstance(g, BaseException)]
    assert not failed, failed


def test_hot_reload_reaches_every_replica_before_use(replicas: list[str], tmp_path: Path) -> None:
    store = ModelStore(str(tmp_path / "store"))
    update = store.publish(make_adapter(MODEL, tmp_path / "a1", 1), "SmolLM2-135M-Instruct", {}, ["e1"])
    version = update.version

    # one replica away: the reload fails and the backend keeps the base model
    partial = backend([replicas[0], f"http://127.0.0.1:{free_port()}"])
    with pytest.raises(WeightsError) as err:
        apply_update(update, store, partial)
    assert err.value.reason == "reload_failed" and "127.0.0.1" in err.value.detail
    assert partial.weights_version is None and partial.payload(jobs(1)[0], [])["model"] == SERVED

    both = backend(replicas)
    apply_update(update, store, both)
    assert all(version in served(u) for u in replicas)
    before = {u: successes(u) for u in replicas}
    out, _ = run(both, jobs(2))
    assert {g.model for g in out} == {version} and {g.weights_version for g in out} == {version}
    assert all(successes(u) > before[u] for u in replicas)

    # a replica loses the adapter (as a restarted server would): the backend loads it there again
    resp = httpx.post(replicas[1] + "/v1/unload_lora_adapter", json={"lora_name": version}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert version not in served(replicas[1])
    out, _ = run(both, jobs(2))  # one request per replica (fewest assigned first)
    assert {g.model for g in out} == {version}
    assert version in served(replicas[1])
