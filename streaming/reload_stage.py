"""Hot reload on the worker: follow `tailor.model.updates` (every partition, outside the consumer group,
since every worker must take every update) and hand each announced version to the synthesis backend
after verifying its hash. Examples are tagged with the weights version in use. A bad or refused update goes
down the synthesis stage's failure path (it is that stage's backend the weights were for), so it is
dead-lettered like any record and the follower goes on.

Order is the model store's: an update carries the sequence number of its announcement in the store
(`ModelUpdate.seq`), is checked against that announcement (signed, when the trainer has a key and the
worker `model_verify_key_file`), and one at or below the sequence in use is refused as `stale_update`. The
record's `created_at` decides nothing, so whoever can write the topic cannot pin an old version."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from core.dlq import SourcePosition
from core.metrics import TailorMetrics
from core.records import ModelUpdate
from streaming.executors import in_stage
from streaming.kafka_clients import aiokafka_kwargs
from streaming.settings import TailorSettings
from streaming.stage import Source, Stage

log = logging.getLogger(__name__)


def model_store_root(settings: TailorSettings) -> str:
    return settings.model_store_uri or str((settings.data_dir / "models").resolve())


class Reloads:
    """Applies updates in the store's announcement order; a refused update leaves the current weights in use."""

    def __init__(
        self, settings: TailorSettings, backend: Any, metrics: TailorMetrics, failures: Stage
    ) -> None:
        from trainer.signing import UpdateKeys

        self.keys = UpdateKeys.from_config(settings)  # a bad key file stops the worker at start
        self.seq: int | None = None  # store sequence of the update in use
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        self.failures = failures
        self.current: str | None = None

    async def apply(self, update: ModelUpdate, pos: SourcePosition, raw: bytes | None) -> bool:
        from trainer.reload import apply_update
        from trainer.store import ModelStore
        from trainer.weights import WeightsError

        store = ModelStore(model_store_root(self.settings), keys=self.keys)
        source = Source(pos, update.version.encode(), raw)
        if update.seq is not None and self.seq is not None and update.seq <= self.seq:
            detail = f"{update.version} is announcement {update.seq}; {self.current} ({self.seq}) is newer"
            log.warning("refused model update %s: %s", update.version, detail)
            await self.failures.fail("stale_update", detail, source)
            return False
        try:
            await in_stage("reload", apply_update, update, store, self.backend)
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
        self.seq = update.seq if update.seq is not None else self.seq
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
        # the newest that verifies: a forged record with a high seq is refused, not a reason to keep the base
        for update, pos, raw in newest_first(backlog):
            if await reloads.apply(update, pos, raw):
                break
        while True:
            for msgs in (await consumer.getmany(timeout_ms=1000)).values():
                for msg in msgs:
                    parsed = await _parse(msg, reloads)
                    if parsed is not None:
                        await reloads.apply(*parsed)
    finally:
        await consumer.stop()


def newest_first(
    backlog: list[tuple[ModelUpdate, SourcePosition, bytes | None]],
) -> list[tuple[ModelUpdate, SourcePosition, bytes | None]]:
    """Updates after catching up, newest first in the store's order (`seq`); created_at decides only among
    updates of a trainer from before sequences, which any sequenced update outranks."""
    return sorted(backlog, key=lambda b: (b[0].seq or 0, b[0].created_at), reverse=True)


async def _parse(msg: Any, reloads: Reloads) -> tuple[ModelUpdate, SourcePosition, bytes | None] | None:
    pos = SourcePosition(msg.topic, msg.partition, msg.offset)
    try:
        return ModelUpdate.from_bytes(msg.value), pos, msg.value
    except Exception as exc:
        await reloads.failures.failed(exc, Source(pos, msg.key, msg.value))
        return None
