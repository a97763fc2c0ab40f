"""Window state with its own compacted changelog topic, recovered with fetch high-water marks.

Faust tables recover up to the end offsets a ListOffsets request reports; the embedded Tansu broker
reports those wrongly (it under-reports), so a table could come back without its newest entries. This
store is the same idea done safely everywhere: every change goes to `<app id>-windows-changelog` on the
source record's partition; when partitions are assigned, their changelog partitions are read from the
start up to the high-water mark returned by fetch responses before any event of those partitions is
processed; revoked partitions are dropped from memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

from streaming.kafka_clients import aiokafka_kwargs
from streaming.settings import TailorSettings
from streaming.windows import ChangeLog

log = logging.getLogger(__name__)


def changelog_topic(settings: TailorSettings) -> str:
    return f"{settings.app_id}-windows-changelog"


class PartitionedState(MutableMapping[bytes, bytes]):
    """A dict that remembers each key's partition (set by the caller before a write)."""

    def __init__(self) -> None:
        self.entries: dict[bytes, bytes] = {}
        self.partition_of: dict[bytes, int] = {}
        self.current_partition = 0
        self.generation = 0  # changed when entries are replaced in bulk (recovery, revoke): indexes rebuild

    def __getitem__(self, k: bytes) -> bytes:
        return self.entries[k]

    def __setitem__(self, k: bytes, v: bytes) -> None:
        self.entries[k] = v
        self.partition_of[k] = self.current_partition

    def __delitem__(self, k: bytes) -> None:
        del self.entries[k]
        self.partition_of.pop(k, None)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def drop_partitions(self, partitions: set[int]) -> int:
        gone = [k for k, p in self.partition_of.items() if p in partitions]
        for k in gone:
            self.entries.pop(k, None)
            self.partition_of.pop(k, None)
        self.generation += 1
        return len(gone)


class TopicChangeLog(ChangeLog):
    def __init__(self, app: Any, topic: str, state: PartitionedState) -> None:
        self.app = app
        self.topic = topic
        self.state = state
        self._topic: Any = None

    def record(self, partition: int, key: bytes, value: bytes | None) -> None:
        if value is None:
            self.state.partition_of.pop(key, None)  # a deleted key must not stay behind here
        else:
            self.state.partition_of[key] = partition
        if self._topic is None:  # one topic object, not one per change
            self._topic = self.app.topic(self.topic, key_serializer="raw", value_serializer="raw")
        self._topic.send_soon(key=key, value=value, partition=partition)


class StateRecovery:
    """Reads changelog partitions into the state; `ready(p)` waits until partition p is recovered."""

    def __init__(self, settings: TailorSettings, state: PartitionedState) -> None:
        self.settings = settings
        self.state = state
        self.recovered: dict[int, asyncio.Event] = {}

    def event(self, partition: int) -> asyncio.Event:
        return self.recovered.setdefault(partition, asyncio.Event())

    async def ready(self, partition: int) -> None:
        await self.event(partition).wait()

    async def recover(self, partitions: set[int]) -> int:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from streaming.highwaters import fetch_highwaters

        todo = {p for p in partitions if not self.event(p).is_set()}
        if not todo:
            return 0
        started = time.monotonic()
        topic = changelog_topic(self.settings)
        assert self.settings.kafka_bootstrap
        hws = {p: hw for (t, p), hw in (await fetch_highwaters(self.settings, [topic])).items() if p in todo}
        applied = 0
        pending = {p for p, hw in hws.items() if hw > 0}
        if pending:
            consumer = AIOKafkaConsumer(
                **aiokafka_kwargs(self.settings, self.settings.kafka_bootstrap),
                enable_auto_commit=False,
                group_id=None,
            )
            await consumer.start()
            try:
                tps = [TopicPartition(topic, p) for p in pending]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                while pending:
                    batch = await consumer.getmany(timeout_ms=500)
                    for tp, msgs in batch.items():
                        for msg in msgs:
                            if msg.value is None:
                                self.state.entries.pop(msg.key, None)
                                self.state.partition_of.pop(msg.key, None)
                            else:
                                self.state.entries[msg.key] = msg.value
                                self.state.partition_of[msg.key] = tp.partition
                            applied += 1
                            if msg.offset + 1 >= hws[tp.partition]:
                                pending.discard(tp.partition)
            finally:
                await consumer.stop()
        self.state.generation += 1
        for p in todo:
            self.event(p).set()
        log.info(
            "recovered window state of partitions %s: %d changes in %.2fs",
            sorted(todo),
            applied,
            time.monotonic() - started,
        )
        return applied

    def revoke(self, partitions: set[int]) -> None:
        for p in partitions:
            self.recovered.pop(p, None)
        dropped = self.state.drop_partitions(partitions)
        if dropped:
            log.info("dropped %d window entries of revoked partitions %s", dropped, sorted(partitions))
