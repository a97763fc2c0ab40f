"""Consumer lag per assigned partition, from fetch high-water marks (never ListOffsets / end offsets).

`tailor_consumer_lag_messages{topic,partition}` = high-water mark - position, for every partition assigned
to this worker's consumer:

- the high-water mark is the one the broker returned in the last fetch response for that partition
  (aiokafka `consumer.highwater(tp)`; Faust's `app.consumer.highwater(tp)` delegates to it). End offsets are
  never used: the embedded Tansu broker answers ListOffsets(latest) wrongly.
- the position is the consumer's next offset to hand to Faust (`consumer.position(tp)`); records Faust has
  received but not yet processed are in its stream buffers and do not count as lag.

Partitions a rebalance took away lose their series, so a scaled-down worker stops reporting them.
Register it on a Faust app with one line (the timer runs on every worker, for its own partitions):

    register_lag_monitor(app, metrics, interval_s=settings.lag_interval_s)
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

import faust
from prometheus_client import Gauge

from core.metrics import TailorMetrics

log = logging.getLogger(__name__)

PartitionKey = tuple[str, int]


class OffsetView(Protocol):
    """What the monitor reads from a consumer. Faust's `app.consumer` and aiokafka's consumer both fit."""

    def assignment(self) -> AbstractSet[Any]: ...

    def highwater(self, tp: Any) -> int | None: ...

    async def position(self, tp: Any) -> int | None: ...


class LagMonitor:
    """Sets the lag gauge from one consumer's high-water marks and positions."""

    def __init__(self, gauge: Gauge, position_timeout_s: float = 2.0) -> None:
        self.gauge = gauge
        self.position_timeout_s = position_timeout_s
        self.reported: set[PartitionKey] = set()

    async def sample(self, consumer: OffsetView) -> tuple[set[PartitionKey], dict[PartitionKey, int]]:
        """(assigned partitions, lag of those whose high-water mark and position are known)."""
        assigned = sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition))
        highwaters = {tp: consumer.highwater(tp) for tp in assigned}
        known = [tp for tp in assigned if highwaters[tp] is not None]
        positions = await asyncio.wait_for(
            asyncio.gather(*(consumer.position(tp) for tp in known), return_exceptions=True),
            timeout=self.position_timeout_s,
        )
        lag: dict[PartitionKey, int] = {}
        for tp, pos in zip(known, positions):
            hw = highwaters[tp]
            if isinstance(pos, BaseException) or pos is None or hw is None:
                continue  # not positioned yet, or revoked while we asked
            lag[(tp.topic, tp.partition)] = max(0, int(hw) - int(pos))
        return {(tp.topic, tp.partition) for tp in assigned}, lag

    async def update(self, consumer: OffsetView) -> dict[PartitionKey, int]:
        """Set the gauge for every known partition, drop the series of unassigned ones; return the lag."""
        assigned, lag = await self.sample(consumer)
        for (topic, partition), value in lag.items():
            self.gauge.labels(topic, str(partition)).set(value)
        for topic, partition in sorted((self.reported | set(lag)) - assigned):
            try:
                self.gauge.remove(topic, str(partition))
            except KeyError:
                pass
        self.reported = (self.reported & assigned) | set(lag)
        return lag


_REGISTERED: weakref.WeakKeyDictionary[faust.App, LagMonitor] = weakref.WeakKeyDictionary()


def register_lag_monitor(
    app: faust.App, metrics: TailorMetrics, interval_s: float = 5.0, position_timeout_s: float = 2.0
) -> LagMonitor:
    """Add a timer to `app` that keeps `tailor_consumer_lag_messages` current; once per app."""
    if app in _REGISTERED:
        return _REGISTERED[app]
    monitor = LagMonitor(metrics.consumer_lag, position_timeout_s)
    _REGISTERED[app] = monitor

    @app.timer(interval_s, name="tailor.lag_monitor")
    async def update_lag() -> None:
        if app.should_stop:
            return
        try:
            await monitor.update(app.consumer)
        except Exception as exc:  # the timer must never crash the worker; the next tick retries
            log.info("consumer lag not updated: %s: %s", type(exc).__name__, exc)

    return monitor
