"""Faust's aiokafka transport with one change: the worker consumer's fetch wait is a setting; and the
app, with a bound on how long it may take to stop.

Faust 0.15 hard-codes `fetch_max_wait_ms=1500` for the worker consumer. A broker that answers a fetch as
soon as data arrives (Kafka) makes that harmless; the embedded Tansu 0.6 broker holds every fetch with no
data for the whole wait, even when data arrives meanwhile. Measured here with one aiokafka consumer on an
idle topic, a record sent every 0.37 s: fetch wait 1500 ms → 478-1,234 ms from send to receipt; 500 ms →
108-237 ms; 100 ms → 12-43 ms. The worker has two such hops (raw → anchors → examples), so the wait was
most of the pipeline's latency at a steady rate.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

log = logging.getLogger(__name__)

FAUST_FETCH_MAX_WAIT_MS = 1500  # what Faust passes; replaced below
SHUTDOWN_OVERDUE_EXIT = 70  # EX_SOFTWARE: the worker did not stop in time and was ended


def _overdue(timeout_s: float) -> None:
    log.error(
        "the worker did not stop within %.0f s (is the broker reachable?); exiting with status %d: what "
        "was not committed is delivered again to the next worker",
        timeout_s,
        SHUTDOWN_OVERDUE_EXIT,
    )
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(SHUTDOWN_OVERDUE_EXIT)


def arm_shutdown_watchdog(timeout_s: float) -> threading.Timer:
    """End the process `timeout_s` from now unless it has exited by then (a daemon timer thread)."""
    timer = threading.Timer(timeout_s, _overdue, args=(timeout_s,))
    timer.daemon = True
    timer.name = "tailor-shutdown-watchdog"
    timer.start()
    return timer


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
    """faust.App on `TailorTransport`; `fetch_max_wait_ms` and `shutdown_timeout_s` are set by `create_app`.

    Stopping is bounded: with the broker gone, Faust's consumer thread can die on a cancelled retry while
    the app waits for it, and the worker never exits (seen in CI: SIGTERM during an outage, still retrying
    a minute later). A watchdog armed when the app starts stopping ends the process after
    `shutdown_timeout_s`."""

    fetch_max_wait_ms: int | None = None
    shutdown_timeout_s: float | None = None

    def _new_transport(self) -> Any:
        return TailorTransport(self.conf.broker_consumer, self)

    async def on_stop(self) -> None:
        if self.shutdown_timeout_s:
            arm_shutdown_watchdog(self.shutdown_timeout_s)
        await super().on_stop()
