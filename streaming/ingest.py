"""The ingest stage: parse, check and hand on raw records; dead-letter anything bad.

The stage owns the timing and counting; the failure path (log, count, dead-letter, go on) is the one every
stage shares (`streaming.stage`); record checks and downstream handlers own the decisions.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from core.dlq import SourcePosition
from core.limits_config import LimitsConfig
from core.metrics import TailorMetrics
from core.records import RecordError, TailorRecord
from core.tenancy import TENANT_HEADER, header, mac_ok
from streaming.executors import in_stage
from streaming.ingest_checks import RecordCheck
from streaming.stage import DeadLetterSink, Source, Stage
from streaming.tenancy_config import TenancyConfig
from streaming.topics import TopicSpec

Headers = Sequence[tuple[str, bytes | None]]


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
        tenancy: TenancyConfig | None = None,
    ) -> None:
        super().__init__(metrics, dlq, worker_id, limits.dlq_payload_bytes, limits.decode_timeout_s)
        self.tenancy = tenancy or TenancyConfig()
        self.spec = spec
        self.checks = checks
        self.limits = limits
        self.handlers = handlers

    @property
    def name(self) -> str:
        return f"ingest_{self.spec.role}"

    def _parse_and_check(self, value: bytes | None, headers: Headers | None = None) -> TailorRecord:
        record = self.spec.record.from_bytes(
            value, max_bytes=self.limits.max_message_bytes, max_depth=self.limits.max_json_depth
        )
        self._check_tenant(record, value or b"", headers)
        for check in self.checks:
            check.check(record)
        return record

    def _check_tenant(self, record: TailorRecord, value: bytes, headers: Headers | None) -> None:
        """A record's tenant is proved by its MAC where the worker holds tenant keys (core/tenancy.py)."""
        tenant = getattr(record, "tenant", None)
        cfg = self.tenancy
        if tenant is None:
            if cfg.tenant_required:
                raise RecordError("tenant_missing", "raw records must name their tenant here")
            return
        if not cfg.tenant_keys:
            return  # tenants as namespaces of cooperating producers only
        secret = cfg.tenant_keys.get(tenant)
        if secret is None:
            raise RecordError("unknown_tenant", f"tenant {tenant!r} has no key on this worker")
        if not mac_ok(secret.get_secret_value().encode(), value, header(headers, TENANT_HEADER)):
            raise RecordError("tenant_unverified", f"no valid {TENANT_HEADER} header for tenant {tenant!r}")

    async def process(
        self, key: bytes | None, value: bytes | None, pos: SourcePosition, headers: Headers | None = None
    ) -> TailorRecord | None:
        """Process one message; return the record when it was accepted."""
        started = time.perf_counter()
        self.metrics.records_in.labels(pos.topic).inc()
        self.metrics.stage_in.labels(self.name).inc()
        stage = self.name  # a handler's failure is labelled with the handler's stage
        try:
            record = await asyncio.wait_for(
                in_stage("ingest", self._parse_and_check, value, headers),
                timeout=self.limits.decode_timeout_s,
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
            pos = SourcePosition(msg.topic, msg.partition, msg.offset)
            raw = msg.headers or ()
            await self.process(
                event.key, event.value, pos, list(raw.items() if isinstance(raw, Mapping) else raw)
            )
