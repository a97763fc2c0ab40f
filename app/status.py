"""`tailor status`: topics, per-group lag from fetch high-water marks, latest dead letters.

Lag is computed from the high-water mark returned in fetch responses, never from ListOffsets
(end offsets), which the Tansu broker reports wrongly.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from core.records import DeadLetter, RecordError
from streaming.highwaters import fetch_highwaters
from streaming.kafka_clients import aiokafka_kwargs, kafka_python_kwargs
from streaming.settings import TailorSettings
from streaming.topics import topic_specs


@dataclass
class GroupLag:
    group: str
    lag: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.lag.values())


@dataclass
class Status:
    highwater: dict[tuple[str, int], int]
    groups: list[GroupLag]
    dead_letters: list[DeadLetter]


async def latest_dead_letters(settings: TailorSettings, n: int, timeout_s: float = 10.0) -> list[DeadLetter]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    assert settings.kafka_bootstrap
    if n <= 0:
        return []
    hws = await fetch_highwaters(settings, [settings.topic_dlq], timeout_s)
    tps = [TopicPartition(t, p) for (t, p), hw in hws.items() if hw > 0]
    if not tps:
        return []
    consumer = AIOKafkaConsumer(
        **aiokafka_kwargs(settings, settings.kafka_bootstrap), enable_auto_commit=False
    )
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, max(0, hws[(tp.topic, tp.partition)] - n))
        remaining = {tp: hws[(tp.topic, tp.partition)] for tp in tps}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, msgs in batch.items():
                for msg in msgs:
                    try:
                        letters.append(DeadLetter.from_bytes(msg.value))
                    except RecordError:
                        continue
                    if msg.offset + 1 >= remaining.get(tp, 0):
                        remaining.pop(tp, None)
        letters.sort(key=lambda d: d.created_at)
        return letters[-n:]
    finally:
        await consumer.stop()


def group_lags(settings: TailorSettings, hws: dict[tuple[str, int], int]) -> list[GroupLag]:
    from kafka.admin import KafkaAdminClient

    assert settings.kafka_bootstrap
    admin = KafkaAdminClient(
        client_id="tailor-status", **kafka_python_kwargs(settings, settings.kafka_bootstrap)
    )
    try:
        groups = sorted({_group_name(g) for g in admin.list_groups()})
        out = []
        for group in groups:
            offsets = admin.list_group_offsets({group: None}).get(group, {})
            lag = GroupLag(group)
            for tp, meta in offsets.items():
                key = (tp.topic, tp.partition)
                if key in hws and meta.offset >= 0:
                    lag.lag[key] = max(0, hws[key] - meta.offset)
            out.append(lag)
        return out
    finally:
        admin.close()


def _group_name(group: object) -> str:
    if isinstance(group, dict):
        return str(group.get("group_id") or group.get("group") or group.get("name"))
    if isinstance(group, tuple):
        return str(group[0])
    return str(getattr(group, "group_id", group))


def collect_status(settings: TailorSettings, dead_letters: int = 10) -> Status:
    names = [spec.name for spec in topic_specs(settings)]

    async def gather() -> tuple[dict[tuple[str, int], int], list[DeadLetter]]:
        hws = await fetch_highwaters(settings, names)
        return hws, await latest_dead_letters(settings, dead_letters)

    hws, letters = asyncio.run(gather())
    return Status(highwater=hws, groups=group_lags(settings, hws), dead_letters=letters)


def render_status(status: Status) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    topics = Table(title="Topics (messages = fetch high-water marks)")
    topics.add_column("topic")
    topics.add_column("partitions", justify="right")
    topics.add_column("messages", justify="right")
    per_topic: dict[str, list[int]] = {}
    for (topic, _p), hw in sorted(status.highwater.items()):
        per_topic.setdefault(topic, []).append(hw)
    for topic, hws in per_topic.items():
        topics.add_row(topic, str(len(hws)), str(sum(hws)))
    console.print(topics)
    groups = Table(title="Consumer groups (lag = high-water mark - committed offset)")
    for col in ("group", "topic", "lag"):
        groups.add_column(col)
    for g in status.groups:
        by_topic: dict[str, int] = {}
        for (topic, _p), lag in g.lag.items():
            by_topic[topic] = by_topic.get(topic, 0) + lag
        for topic, lag in sorted(by_topic.items()):
            groups.add_row(g.group, topic, str(lag))
    console.print(groups)
    dlq = Table(title="Latest dead letters")
    for col in ("reason", "stage", "source", "detail"):
        dlq.add_column(col)
    for d in status.dead_letters:
        dlq.add_row(
            d.reason, d.stage, f"{d.source_topic}/{d.source_partition}/{d.source_offset}", d.detail[:80]
        )
    console.print(dlq)
