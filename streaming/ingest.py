"""The ingest stage: parse, check and hand on raw records; dead-letter anything bad.

The stage owns the timing and counting; the failure path (log, count, dead-letter, go on) is the one every
stage shares (`streaming.stage`); record checks and downstream handlers own the decisions.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from core.dlq import SourcePosition
from core.limits_config import LimitsConfig
from core.metrics import TailorMetrics
from core.records import TailorRecord
from streaming.ingest_checks import RecordCheck
from streaming.stage import DeadLetterSink, Source, Stage
from streaming.topics import TopicSpec


class RecordHandler(ABC):
    """A downstream consumer of valid raw records (e.g. the windowed extraction stage)."""

    @abstractmethod
    async def handle(self, record: TailorRecord, pos: SourcePosition) -> None:
        """Take one valid record. Raise RecordError to dead-letter it with a reason."""

    @property
    def stage(self) -> str:
        """The stage a failure here is labelled with in dead letters, metrics and `tailor status`: the user's
        name for it (the pipeline stages of the README: ingest, window, anchors, synthesis, sink), never a
        class name."""
        return "ingest"


class IngestStage(Stage):
    timeout_reason = "decode_timeout"

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
        super().__init__(metrics, dlq, worker_id, limits.dlq_payload_bytes, limits.decode_timeout_s)
        self.spec = spec
        self.checks = checks
        self.limits = limits
        self.handlers = handlers

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

    async def process(
        self, key: bytes | None, value: bytes | None, pos: SourcePosition
    ) -> TailorRecord | None:
        """Process one message; return the record when it was accepted."""
        started = time.perf_counter()
        self.metrics.records_in.labels(pos.topic).inc()
        self.metrics.stage_in.labels(self.name).inc()
        stage = self.name  # a handler's failure is labelled with the handler's stage
        try:
            record = await asyncio.wait_for(
                asyncio.to_thread(self._parse_and_check, value), timeout=self.limits.decode_timeout_s
            )
            for handler in self.handlers:
                stage = handler.stage
                await handler.handle(record, pos)
        except Exception as exc:
            await self.failed(exc, Source(pos, key, value), stage=stage)
            return None
        finally:
            self.metrics.processing_seconds.labels(pos.topic).observe(time.perf_counter() - started)
        self.metrics.stage_out.labels(self.name).inc()
        return record

    async def agent(self, stream: Any) -> None:
        """Faust agent body: one event at a time, with its source position."""
        async for event in stream.events():
            msg = event.message
            await self.process(event.key, event.value, SourcePosition(msg.topic, msg.partition, msg.offset))
