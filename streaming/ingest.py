"""The ingest stage: parse, check and hand on raw records; dead-letter anything bad.

The stage owns the plumbing (counting, timing, timeouts, dead-lettering); record checks and
downstream handlers own the decisions. A failure anywhere becomes a DLQ record with a reason;
the worker keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from core.dlq import SourcePosition, dead_letter
from core.limits_config import LimitsConfig
from core.metrics import TailorMetrics
from core.records import DeadLetter, RecordError, TailorRecord
from streaming.ingest_checks import RecordCheck
from streaming.topics import TopicSpec

log = logging.getLogger(__name__)


class DeadLetterSink(ABC):
    @abstractmethod
    async def send(self, letter: DeadLetter) -> None:
        """Publish one dead letter."""


class RecordHandler(ABC):
    """A downstream consumer of valid raw records (e.g. the windowed extraction stage)."""

    @abstractmethod
    async def handle(self, record: TailorRecord, pos: SourcePosition) -> None:
        """Take one valid record. Raise RecordError to dead-letter it with a reason."""


class IngestStage:
    def __init__(
        self,
        spec: TopicSpec,
        checks: Sequence[RecordCheck],  # type: ignore[type-arg]
        limits: LimitsConfig,
        metrics: TailorMetrics,
        dlq: DeadLetterSink,
        handlers: Sequence[RecordHandler],
        worker_id: str,
    ) -> None:
        self.spec = spec
        self.checks = checks
        self.limits = limits
        self.metrics = metrics
        self.dlq = dlq
        self.handlers = handlers
        self.worker_id = worker_id

    @property
    def name(self) -> str:
        return f"ingest_{self.spec.role}"

    def _parse_and_check(self, value: bytes | None) -> TailorRecord:
        record = self.spec.record.from_bytes(
            value, max_bytes=self.limits.max_message_bytes, max_depth=self.limits.max_json_depth
        )
        for check in self.checks:
            check.check(record)
        return record

    async def process(self, key: bytes | None, value: bytes | None, pos: SourcePosition) -> TailorRecord | None:
        """Process one message; return the record when it was accepted."""
        started = time.perf_counter()
        self.metrics.records_in.labels(pos.topic).inc()
        self.metrics.stage_in.labels(self.name).inc()
        stage = self.name
        try:
            record = await asyncio.wait_for(
                asyncio.to_thread(self._parse_and_check, value), timeout=self.limits.decode_timeout_s
            )
            for handler in self.handlers:
                stage = type(handler).__name__
                await handler.handle(record, pos)
        except RecordError as exc:
            await self._dead_letter(exc.reason, exc.detail, stage, pos, key, value)
            return None
        except TimeoutError:
            await self._dead_letter(
                "decode_timeout", f"over {self.limits.decode_timeout_s}s", stage, pos, key, value
            )
            return None
        except Exception as exc:  # a bug must cost one record, not the worker
            log.exception("unexpected failure at %s/%d/%d", pos.topic, pos.partition, pos.offset,
                          extra={"topic": pos.topic, "partition": pos.partition, "offset": pos.offset})
            await self._dead_letter("internal_error", f"{type(exc).__name__}: {exc}", stage, pos, key, value)
            return None
        finally:
            self.metrics.processing_seconds.labels(pos.topic).observe(time.perf_counter() - started)
        self.metrics.stage_out.labels(self.name).inc()
        return record

    async def _dead_letter(
        self, reason: str, detail: str, stage: str, pos: SourcePosition, key: bytes | None, value: bytes | None
    ) -> None:
        log.warning(
            "dead-lettered %s/%d/%d: %s: %s", pos.topic, pos.partition, pos.offset, reason, detail,
            extra={"topic": pos.topic, "partition": pos.partition, "offset": pos.offset},
        )
        self.metrics.stage_dropped.labels(stage, reason).inc()
        self.metrics.dead_lettered.labels(pos.topic, stage, reason).inc()
        letter = dead_letter(
            reason=reason, detail=detail, stage=stage, source=pos, key=key, value=value,
            worker=self.worker_id, payload_cap=self.limits.dlq_payload_bytes,
        )
        await self.dlq.send(letter)

    async def agent(self, stream: Any) -> None:
        """Faust agent body: one event at a time, with its source position."""
        async for event in stream.events():
            msg = event.message
            await self.process(event.key, event.value, SourcePosition(msg.topic, msg.partition, msg.offset))
