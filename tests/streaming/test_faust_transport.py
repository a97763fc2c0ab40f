"""The worker consumer's fetch wait comes from the settings, not Faust's hard-coded 1500 ms."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from agents.synthesis.factory import BackendHandle
from agents.synthesis.rules_backend import RulesBackend
from streaming.app import create_app
from streaming.faust_transport import FAUST_FETCH_MAX_WAIT_MS, TailorConsumer, TailorTransport
from streaming.metrics import TailorMetrics
from streaming.settings import TailorSettings


def worker_consumer_wait(settings: TailorSettings) -> int:
    async def build() -> int:
        tailor = create_app(settings, TailorMetrics(CollectorRegistry()), synthesis=BackendHandle(RulesBackend(), None))
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
