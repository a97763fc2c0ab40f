"""Waits of `tailor demo`: until the worker has taken every record through every stage, and until it
serves a published weights version (both read from the worker's metrics and the group's lag)."""

from __future__ import annotations

import subprocess
import time
import urllib.request

from app.status import collect_status
from streaming.settings import TailorSettings


def pipeline_lag(settings: TailorSettings) -> int | None:
    """Lag of the worker's group over every topic it consumes (None until it committed on all of them)."""
    status = collect_status(settings, dead_letters=0, examples=0)
    consumed = {
        settings.topic_raw_video,
        settings.topic_raw_gui,
        settings.topic_raw_robot,
        settings.topic_anchors,
        settings.topic_examples,
    }
    group = next((g for g in status.groups if g.group == settings.app_id), None)
    if group is None:
        return None
    committed = {tp for tp in group.lag if tp[0] in consumed}
    needed = {tp for tp, hw in status.highwater.items() if tp[0] in consumed and hw > 0}
    if not needed <= committed:
        return None
    return sum(lag for tp, lag in group.lag.items() if tp[0] in consumed)


def metric_values(port: int, name: str) -> dict[str, float] | None:
    """Each series of metric `name` on the worker's /metrics (its label text -> value); None when the
    endpoint does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    series = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) :].rsplit(" ", 1)
            series[labels] = float(value)
    return series


def open_windows(port: int) -> float | None:
    values = metric_values(port, "tailor_open_windows")
    return sum(values.values()) if values else None


def wait_settled(
    settings: TailorSettings, port: int, worker: subprocess.Popen[bytes], seconds: float
) -> bool:
    """True once every record went through every stage: no open window and no lag on any consumed topic."""
    deadline = time.monotonic() + seconds
    calm = 0
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited with {worker.returncode}")
        calm = calm + 1 if open_windows(port) == 0 and pipeline_lag(settings) == 0 else 0
        if calm >= 2:  # twice in a row: nothing in flight between the checks
            return True
        time.sleep(2.0)
    return False


def wait_serving(port: int, version: str, worker: subprocess.Popen[bytes], seconds: float) -> bool:
    """True once the worker reports `version` as the weights its synthesis uses (it hot-reloaded them)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited with {worker.returncode}")
        if (metric_values(port, "tailor_model_version_info") or {}).get(f'{{version="{version}"}}') == 1.0:
            return True
        time.sleep(1.0)
    return False
