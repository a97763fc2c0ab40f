"""/healthz: 200 while the worker's event loop refreshes its heartbeat, 503 once the loop is stuck, although
/metrics (served from its own thread) keeps answering."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from core.heartbeat import HEALTHZ_PATH, Heartbeat, serve_metrics_and_health
from streaming.settings import TailorSettings
from tests.conftest import start_worker_process, stop_worker_process


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_healthz_follows_the_heartbeat_and_metrics_do_not() -> None:
    now = [100.0]
    heartbeat = Heartbeat(stale_s=5.0, clock=lambda: now[0])
    registry = CollectorRegistry()
    Counter("tailor_probe_test", "A sample.", registry=registry).inc()
    port = serve_metrics_and_health(registry, "127.0.0.1", 0, heartbeat)
    assert get(port, HEALTHZ_PATH)[0] == 200
    now[0] += 5.5  # no beat for longer than stale_s
    status, body = get(port, HEALTHZ_PATH)
    assert status == 503 and "5.5s" in body, body
    status, text = get(port, "/metrics")
    assert status == 200 and "tailor_probe_test_total 1.0" in text
    heartbeat.beat()
    assert get(port, HEALTHZ_PATH)[0] == 200


def test_a_real_worker_is_live_until_its_event_loop_blocks(settings: TailorSettings, tmp_path: Path) -> None:
    flag = tmp_path / "block-now"
    live = settings.model_copy(update={"liveness_interval_s": 0.5, "liveness_stale_s": 3.0})
    os.environ["HUNG_TEST_FLAG"] = str(flag)  # the child inherits it through settings_env
    os.environ["HUNG_TEST_BLOCK_S"] = "12"
    try:
        wp = start_worker_process(live, tmp_path / "worker.log", argv=("-m", "tests.deploy.hung_worker"))
    finally:
        del os.environ["HUNG_TEST_FLAG"], os.environ["HUNG_TEST_BLOCK_S"]
    try:
        # healthy: a 200 only counts 10 s in (> stale_s), when the heartbeat set at start would be stale
        # unless the loop's timer refreshes it
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline:
            status, body = get(wp.metrics_port, HEALTHZ_PATH)
            if status == 200 and time.monotonic() > deadline - 50:
                break
            time.sleep(0.5)
        assert status == 200, wp.log()[-3000:]
        flag.touch()
        blocked_at = time.monotonic()
        while time.monotonic() < blocked_at + 3.0 + 6.0:  # within stale_s of the block, with margin
            status, body = get(wp.metrics_port, HEALTHZ_PATH)
            if status == 503:
                break
            time.sleep(0.25)
        assert status == 503, (body, wp.log()[-3000:])
        assert not flag.exists(), "the blocking timer ran"
        assert get(wp.metrics_port, "/metrics")[0] == 200, "/metrics answers from its own thread"
    finally:
        stop_worker_process(wp)
