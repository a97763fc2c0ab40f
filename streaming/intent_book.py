"""Every worker's view of the active intents: all partitions of the compacted intents topic, read
outside the consumer group (each worker needs every intent), parsed into task specs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from agents.intents import IntentError, IntentParser, ParsedIntent
from agents.intents_config import IntentsConfig
from agents.tasks.base import TaskSpec
from core.dlq import SourcePosition
from core.records import Intent, RecordError
from streaming.kafka_clients import aiokafka_kwargs
from streaming.settings import TailorSettings

log = logging.getLogger(__name__)

OnBad = Callable[[str, str, SourcePosition, bytes | None, bytes | None], Awaitable[None]]


class IntentBook:
    def __init__(self, parser: IntentParser, max_active: int = IntentsConfig().intents_max_active) -> None:
        self.parser = parser
        self.max_active = max_active
        self.intents: dict[str, ParsedIntent] = {}
        self.produced: dict[
            tuple[str, str], int
        ] = {}  # (intent id, family) -> accepted examples (this worker)

    async def apply(self, intent: Intent) -> ParsedIntent | None:
        if not intent.active:
            self.intents.pop(intent.intent_id, None)
            return None
        if intent.intent_id not in self.intents and len(self.intents) >= self.max_active:
            # checked before parsing: a flood of intents costs neither model calls nor synthesis
            raise RecordError(
                "too_many_intents", f"{len(self.intents)} active intents (cap {self.max_active}); retire some"
            )
        parsed = await self.parser.parse(intent)
        self.intents[intent.intent_id] = parsed
        log.info(
            "intent %s (%s): %s",
            intent.intent_id,
            parsed.parsed_by,
            ", ".join(s.task_family for s in parsed.specs),
        )
        return parsed

    def specs_for(self, domain: str) -> list[TaskSpec]:
        out = []
        for parsed in self.intents.values():
            for spec in parsed.specs:
                if spec.domain not in (None, domain):
                    continue
                if (
                    spec.budget is not None
                    and self.produced.get((spec.intent_id or "", spec.task_family), 0) >= spec.budget
                ):
                    continue
                out.append(spec)
        return out

    def count(self, spec: TaskSpec, accepted: int) -> None:
        key = (spec.intent_id or "", spec.task_family)
        self.produced[key] = self.produced.get(key, 0) + accepted


async def watch_intents(
    settings: TailorSettings, book: IntentBook, on_bad: OnBad, ready: asyncio.Event
) -> None:
    """Follow the intents topic from the beginning, forever; `ready` is set once caught up."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streaming.highwaters import fetch_highwaters

    assert settings.kafka_bootstrap
    while True:
        try:
            hws = await fetch_highwaters(settings, [settings.topic_intents])
            consumer = AIOKafkaConsumer(
                **aiokafka_kwargs(settings, settings.kafka_bootstrap), enable_auto_commit=False, group_id=None
            )
            await consumer.start()
            break
        except Exception as exc:  # broker not ready yet: retry
            log.warning("intents watcher waiting for the broker: %s", exc)
            await asyncio.sleep(2.0)
    try:
        tps = [TopicPartition(t, p) for (t, p) in hws]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        pending = {tp for tp in tps if hws[(tp.topic, tp.partition)] > 0}
        if not pending:
            ready.set()
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, msgs in batch.items():
                for msg in msgs:
                    pos = SourcePosition(msg.topic, msg.partition, msg.offset)
                    if msg.value is None and msg.key:  # tombstone: the intent was deleted
                        book.intents.pop(msg.key.decode(errors="replace"), None)
                        continue
                    try:
                        await book.apply(Intent.from_bytes(msg.value, max_bytes=settings.max_message_bytes))
                    except (RecordError, IntentError) as exc:
                        await on_bad(exc.reason, exc.detail, pos, msg.key, msg.value)
                    if msg.offset + 1 >= hws.get((tp.topic, tp.partition), 0):
                        pending.discard(tp)
            if pending == set():
                ready.set()
    finally:
        await consumer.stop()
