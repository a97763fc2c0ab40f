"""Fixtures for the deployment tests: Debian's Prometheus (installed once, idempotently) and its tools."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.apt_helpers import apt_binaries


@dataclass(frozen=True)
class PrometheusTools:
    prometheus: Path
    promtool: Path


@pytest.fixture(scope="session")
def prometheus_tools() -> PrometheusTools:
    """`prometheus` and `promtool` from Debian's `prometheus` package; installed here when missing.

    Skips only when apt cannot reach its package sources (no apt, not root, or no network); an install that
    reaches apt and still fails is a test failure.
    """
    found = apt_binaries(["prometheus"], ["prometheus", "promtool"])
    return PrometheusTools(found["prometheus"], found["promtool"])
