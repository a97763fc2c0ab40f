"""Faust's aiokafka transport with one change: the worker consumer's fetch wait is a setting.

Faust 0.15 hard-codes `fetch_max_wait_ms=1500` for the worker consumer. A broker that answers a fetch as
soon as data arrives (Kafka) makes that harmless; the embedded Tansu 0.6 broker holds every fetch with no
data for the whole wait, even when data arrives meanwhile. Measured here with one aiokafka consumer on an
idle topic, a record sent every 0.37 s: fetch wait 1500 ms → 478-1,234 ms from send to receipt; 500 ms →
108-237 ms; 100 ms → 12-43 ms. The worker has two such hops (raw → anchors → examples), so the wait was
most of the pipeline's latency at a steady rate.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

FAUST_FETCH_MAX_WAIT_MS = 1500  # what Faust passes; replaced below


class TailorConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait_ms = getattr(self.app, "fetch_max_wait_ms", None)
        if wait_ms is not None:
            # read by AIOKafkaConsumer.start() when it builds its Fetcher (aiokafka 0.14)
            consumer._fetch_max_wait_ms = int(wait_ms)
        return consumer


class TailorConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> TailorConsumerThread:
        return TailorConsumerThread(self, loop=self.loop, beacon=self.beacon)


class TailorTransport(faust_aiokafka.Transport):
    Consumer = TailorConsumer


class TailorFaustApp(faust.App):
    """faust.App on `TailorTransport`; `fetch_max_wait_ms` is set by `create_app` before the worker starts."""

    fetch_max_wait_ms: int | None = None

    def _new_transport(self) -> Any:
        return TailorTransport(self.conf.broker_consumer, self)
