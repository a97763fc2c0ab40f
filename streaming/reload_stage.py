"""Hot reload on the worker: follow `tailor.model.updates` (every partition, outside the consumer group,
since every worker must take every update) and hand each announced version to the synthesis backend
after verifying its hash. Examples are tagged with the weights version in use. A bad or refused update goes
down the synthesis stage's failure path (it is that stage's backend the weights were for), so it is
dead-lettered like any record and the follower goes on."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from core.dlq import SourcePosition
from core.metrics import TailorMetrics
from core.records import ModelUpdate
from streaming.kafka_clients import aiokafka_kwargs
from streaming.settings import TailorSettings
from streaming.stage import Source, Stage

log = logging.getLogger(__name__)


def model_store_root(settings: TailorSettings) -> str:
    return settings.model_store_uri or str((settings.data_dir / "models").resolve())


class Reloads:
    """Applies updates in announcement order; a refused update leaves the current weights in use."""

    def __init__(
        self, settings: TailorSettings, backend: Any, metrics: TailorMetrics, failures: Stage
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        self.failures = failures
        self.current: str | None = None

    async def apply(self, update: ModelUpdate, pos: SourcePosition, raw: bytes | None) -> bool:
        from trainer.reload import apply_update
        from trainer.store import ModelStore
        from trainer.weights import WeightsError

        store = ModelStore(model_store_root(self.settings))
        source = Source(pos, update.version.encode(), raw)
        try:
            await asyncio.to_thread(apply_update, update, store, self.backend)
        except WeightsError as exc:  # trainer's refusal: the weights in use stay
            log.warning("refused model update %s: %s", update.version, exc)
            await self.failures.fail(exc.reason, exc.detail, source)
            return False
        except Exception as exc:
            await self.failures.failed(exc, source, about=f"model update {update.version}")
            return False
        if self.current is not None:
            self.metrics.model_version.labels(self.current).set(0)
        self.metrics.model_version.labels("base").set(0)
        self.metrics.model_version.labels(update.version).set(1)
        self.current = update.version
        log.info(
            "synthesis now uses weights %s%s",
            update.version,
            f" (rollback of {update.rollback_of})" if update.rollback_of else "",
        )
        return True


async def follow_updates(settings: TailorSettings, reloads: Reloads) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streaming.highwaters import fetch_highwaters

    assert settings.kafka_bootstrap
    topic = settings.topic_model_updates
    while True:
        try:
            hws = await fetch_highwaters(settings, [topic])
            consumer = AIOKafkaConsumer(
                **aiokafka_kwargs(settings, settings.kafka_bootstrap), enable_auto_commit=False, group_id=None
            )
            await consumer.start()
            break
        except Exception as exc:
            log.warning("model-update follower waiting for the broker: %s", exc)
            await asyncio.sleep(2.0)
    try:
        tps = [TopicPartition(t, p) for (t, p) in hws]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        # catch up first and apply only the newest announcement; then follow live
        backlog: list[tuple[ModelUpdate, SourcePosition, bytes | None]] = []
        pending = {tp for tp in tps if hws[(tp.topic, tp.partition)] > 0}
        while pending:
            for tp, msgs in (await consumer.getmany(timeout_ms=500)).items():
                for msg in msgs:
                    parsed = await _parse(msg, reloads)
                    if parsed is not None:
                        backlog.append(parsed)
                    if msg.offset + 1 >= hws[(tp.topic, tp.partition)]:
                        pending.discard(tp)
        if backlog:
            update, pos, raw = max(backlog, key=lambda b: b[0].created_at)
            await reloads.apply(update, pos, raw)
        while True:
            for msgs in (await consumer.getmany(timeout_ms=1000)).values():
                for msg in msgs:
                    parsed = await _parse(msg, reloads)
                    if parsed is not None:
                        await reloads.apply(*parsed)
    finally:
        await consumer.stop()


async def _parse(msg: Any, reloads: Reloads) -> tuple[ModelUpdate, SourcePosition, bytes | None] | None:
    pos = SourcePosition(msg.topic, msg.partition, msg.offset)
    try:
        return ModelUpdate.from_bytes(msg.value), pos, msg.value
    except Exception as exc:
        await reloads.failures.failed(exc, Source(pos, msg.key, msg.value))
        return None
