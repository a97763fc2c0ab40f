"""Fixtures for the deployment tests: Debian's Prometheus (installed once, idempotently) and its tools."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class PrometheusTools:
    prometheus: Path
    promtool: Path


def _found() -> PrometheusTools | None:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus and promtool:
        return PrometheusTools(Path(prometheus), Path(promtool))
    return None


def _apt(*args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], capture_output=True, text=True, timeout=timeout_s, env=env)


@pytest.fixture(scope="session")
def prometheus_tools() -> PrometheusTools:
    """`prometheus` and `promtool` from Debian's `prometheus` package; installed here when missing.

    Skips only when apt cannot reach its package sources (no apt, not root, or no network); an install that
    reaches apt and still fails is a test failure.
    """
    tools = _found()
    if tools is not None:
        return tools
    if shutil.which("apt-get") is None:
        pytest.skip("Debian's prometheus package is needed and apt-get is not available here")
    if os.geteuid() != 0:
        pytest.skip("Debian's prometheus package is needed; installing it with apt-get needs root")
    install = ("install", "-y", "-q", "--no-install-recommends", "prometheus")
    done = _apt(*install, timeout_s=600)
    if done.returncode != 0:
        update = _apt("update", "-q", timeout_s=300)
        if update.returncode != 0 or "Err:" in update.stdout:
            pytest.skip(f"apt cannot reach its package sources: {(update.stdout + update.stderr)[-300:]}")
        done = _apt(*install, timeout_s=600)
    assert done.returncode == 0, (
        f"apt-get install prometheus failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    tools = _found()
    assert tools is not None, "the prometheus package installed but prometheus/promtool are not on PATH"
    return tools
