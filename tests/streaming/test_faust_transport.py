"""The worker consumer's fetch wait comes from the settings, not Faust's hard-coded 1500 ms; stopping is
bounded by a watchdog."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from prometheus_client import CollectorRegistry

from agents.synthesis.factory import BackendHandle
from agents.synthesis.rules_backend import RulesBackend
from core.metrics import TailorMetrics
from streaming.app import create_app
from streaming.faust_transport import (
    FAUST_FETCH_MAX_WAIT_MS,
    SHUTDOWN_OVERDUE_EXIT,
    TailorConsumer,
    TailorTransport,
)
from streaming.settings import TailorSettings
from tests.conftest import REPO


def worker_consumer_wait(settings: TailorSettings) -> int:
    async def build() -> int:
        tailor = create_app(
            settings, TailorMetrics(CollectorRegistry()), synthesis=BackendHandle(RulesBackend(), None)
        )
        app = tailor.faust_app
        assert isinstance(app.transport, TailorTransport)
        consumer = app.consumer
        assert isinstance(consumer, TailorConsumer)
        made = consumer._thread._create_worker_consumer(app.transport)
        try:
            return int(made._fetch_max_wait_ms)
        finally:
            await made.stop()  # never started: releases its client

    return asyncio.run(build())


def test_fetch_wait_is_the_setting(settings: TailorSettings) -> None:
    assert settings.kafka_fetch_max_wait_ms == 100 != FAUST_FETCH_MAX_WAIT_MS
    assert worker_consumer_wait(settings) == 100
    assert worker_consumer_wait(settings.model_copy(update={"kafka_fetch_max_wait_ms": 700})) == 700


def test_the_watchdog_ends_a_stop_that_hangs() -> None:
    script = (
        "import logging, time\nfrom streaming.faust_transport import arm_shutdown_watchdog\n"
        "logging.basicConfig()\n"
        "arm_shutdown_watchdog(0.5)\ntime.sleep(60)\n"
    )  # a stop that never finishes
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=50, cwd=REPO
    )
    assert done.returncode == SHUTDOWN_OVERDUE_EXIT
    assert time.monotonic() - started < 30
    assert "did not stop within 0 s" in done.stderr or "did not stop within 1 s" in done.stderr, done.stderr


def test_the_app_carries_its_shutdown_bound(settings: TailorSettings) -> None:
    tailor = create_app(
        settings.model_copy(update={"shutdown_timeout_s": 7.0}),
        TailorMetrics(CollectorRegistry()),
        synthesis=BackendHandle(RulesBackend(), None),
    )
    assert tailor.faust_app.shutdown_timeout_s == 7.0  # type: ignore[attr-defined]
