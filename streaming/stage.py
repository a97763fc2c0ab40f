"""One stage shape: a name, one processing method, one failure path.

The worker's stages (ingest, anchoring, synthesis, the Parquet sink) each take items that came from a topic
position and decide what becomes of them; that decision is the subclass's. What happens when one item fails
is not a decision and must not differ between stages, so it lives here, once: the item is logged with its
topic/partition/offset, counted (`tailor_dead_lettered_total{topic, stage, reason}`) and dead-lettered with a
reason, and the stream goes on.

- a refusal the domain labels (`RecordError`, or one of the stage's own `refusals`) keeps its reason and detail;
- a `TimeoutError` becomes the stage's timeout reason (a stage without a timeout has none: it is a bug);
- anything else is a bug: logged with its traceback and dead-lettered as `internal_error`. A bug in one
  record's path (a validator that raises on one window) then costs that record, never the agent: an
  exception that escaped a Faust agent would stop it, and with it every later record of its partitions.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from core.dlq import SourcePosition, dead_letter
from core.metrics import TailorMetrics
from core.records import DeadLetter, RecordError

T = TypeVar("T")

INTERNAL_ERROR = "internal_error"  # the reason label of a bug, on every stage (dashboards alert on it)


class DeadLetterSink(ABC):
    @abstractmethod
    async def send(self, letter: DeadLetter) -> None:
        """Publish one dead letter."""


@dataclass(frozen=True)
class Source:
    """What a failure dead-letters: the message (or what stands for it, e.g. a window's id) and its position."""

    pos: SourcePosition
    key: bytes | None
    value: bytes | None


class Stage(ABC):
    """The plumbing every stage shares; a subclass names itself and owns one processing method (its decision)."""

    # the stage's own exceptions, besides RecordError, that refuse one item with a `reason` label and a
    # `detail` (not bugs: e.g. an extractor's ExtractorError)
    refusals: ClassVar[tuple[type[Exception], ...]] = ()
    timeout_reason: ClassVar[str | None] = None  # the label of the stage's own timeout, if it has one

    def __init__(
        self,
        metrics: TailorMetrics,
        dlq: DeadLetterSink,
        worker_id: str,
        payload_cap: int,
        timeout_s: float | None = None,
    ) -> None:
        self.metrics = metrics
        self.dlq = dlq
        self.worker_id = worker_id
        self.payload_cap = payload_cap
        self.timeout_s = timeout_s
        # the subclass's logger, so a dead letter's line names the stage's module (as it did before the base)
        self.log = logging.getLogger(type(self).__module__)

    @property
    @abstractmethod
    def name(self) -> str:
        """The stage label of metrics and dead letters."""

    async def guarded(
        self, work: Awaitable[T], source: Source, *, stage: str | None = None, about: str = ""
    ) -> T | None:
        """`work`'s result, or None once its failure went down the failure path."""
        try:
            return await work
        except Exception as exc:
            await self.failed(exc, source, stage=stage, about=about)
            return None

    async def failed(
        self, exc: Exception, source: Source, *, stage: str | None = None, about: str = ""
    ) -> None:
        """The one failure path for an exception raised while processing the item from `source`."""
        if isinstance(exc, (RecordError, *self.refusals)):
            reason, detail = str(exc.reason), str(exc.detail)  # type: ignore[attr-defined]
        elif isinstance(exc, TimeoutError) and self.timeout_reason is not None:
            reason, detail = self.timeout_reason, f"over {self.timeout_s}s"
        else:
            pos = source.pos
            self.log.error(
                "unexpected failure at %s/%d/%d",
                pos.topic,
                pos.partition,
                pos.offset,
                exc_info=exc,
                extra={"topic": pos.topic, "partition": pos.partition, "offset": pos.offset},
            )
            reason, detail = INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
        await self.fail(reason, f"{about}: {detail}" if about else detail, source, stage=stage)

    async def fail(self, reason: str, detail: str, source: Source, *, stage: str | None = None) -> None:
        """Log, count and dead-letter one item with its reason (refusals found without an exception come here
        directly: a bad intent, a refused model update)."""
        label = stage or self.name
        pos = source.pos
        self.log.warning(
            "dead-lettered %s/%d/%d at %s: %s: %s",
            pos.topic,
            pos.partition,
            pos.offset,
            label,
            reason,
            detail,
            extra={"topic": pos.topic, "partition": pos.partition, "offset": pos.offset},
        )
        self.metrics.stage_dropped.labels(label, reason).inc()
        self.metrics.dead_lettered.labels(pos.topic, label, reason).inc()
        letter = dead_letter(
            reason=reason,
            detail=detail,
            stage=label,
            source=pos,
            key=source.key,
            value=source.value,
            worker=self.worker_id,
            payload_cap=self.payload_cap,
        )
        await self.dlq.send(letter)
