"""`tailor status`: topics, per-group lag from fetch high-water marks, latest dead letters.

Lag is computed from the high-water mark returned in fetch responses, never from ListOffsets
(end offsets), which the Tansu broker reports wrongly.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from core.records import DeadLetter, Example, FamilySkip, RecordError, TailorRecord
from streaming.highwaters import fetch_highwaters
from streaming.kafka_clients import aiokafka_kwargs, kafka_python_kwargs
from streaming.settings import TailorSettings
from streaming.topics import topic_specs

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text


@dataclass
class GroupLag:
    group: str
    lag: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.lag.values())


R = TypeVar("R", bound=TailorRecord)


@dataclass(frozen=True)
class ModelUse:
    """What wrote the latest examples: a model and weights version, and how many of them saw images."""

    model: str
    weights_version: str
    examples: int
    with_images: int
    images: int


@dataclass
class Status:
    highwater: dict[tuple[str, int], int]
    groups: list[GroupLag]
    dead_letters: list[DeadLetter]
    models: list[ModelUse] = field(default_factory=list)
    skips: list[FamilySkip] = field(default_factory=list)  # the latest windows a family produced nothing for


def model_use(examples: list[Example]) -> list[ModelUse]:
    count: Counter[tuple[str, str]] = Counter()
    seeing: Counter[tuple[str, str]] = Counter()
    images: Counter[tuple[str, str]] = Counter()
    for e in examples:
        key = (e.model, e.weights_version or "base")
        count[key] += 1
        seeing[key] += bool(e.image_frames)
        images[key] += len(e.image_frames)
    return [ModelUse(m, v, n, seeing[(m, v)], images[(m, v)]) for (m, v), n in sorted(count.items())]


async def latest_dead_letters(settings: TailorSettings, n: int, timeout_s: float = 10.0) -> list[DeadLetter]:
    return await latest_records(settings, settings.topic_dlq, DeadLetter, n, timeout_s)


async def latest_records(
    settings: TailorSettings, topic: str, record: type[R], n: int, timeout_s: float = 10.0
) -> list[R]:
    """The last `n` records of each partition of `topic` that parse as `record`, the latest `n` of them."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    assert settings.kafka_bootstrap
    if n <= 0:
        return []
    hws = await fetch_highwaters(settings, [topic], timeout_s)
    tps = [TopicPartition(t, p) for (t, p), hw in hws.items() if hw > 0]
    if not tps:
        return []
    consumer = AIOKafkaConsumer(
        **aiokafka_kwargs(settings, settings.kafka_bootstrap), enable_auto_commit=False
    )
    await consumer.start()
    letters: list[R] = []
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
                    if msg.offset + 1 >= remaining.get(tp, 0):
                        remaining.pop(tp, None)
                    try:
                        letters.append(record.from_bytes(msg.value))
                    except RecordError:
                        continue
        letters.sort(key=lambda d: float(getattr(d, "created_at", 0.0)))
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


def collect_status(settings: TailorSettings, dead_letters: int = 10, examples: int = 200) -> Status:
    names = [spec.name for spec in topic_specs(settings)]

    async def gather() -> tuple[
        dict[tuple[str, int], int], list[DeadLetter], list[Example], list[FamilySkip]
    ]:
        hws = await fetch_highwaters(settings, names)
        letters = await latest_dead_letters(settings, dead_letters)
        recent = await latest_records(settings, settings.topic_examples, Example, examples)
        return (
            hws,
            letters,
            recent,
            await latest_records(settings, settings.topic_skips, FamilySkip, examples),
        )

    hws, letters, recent, skips = asyncio.run(gather())
    return Status(hws, group_lags(settings, hws), letters, model_use(recent), skips)


def _plain(value: object) -> Text:
    """A table cell that Rich prints as it is: topic names, group names, dead letters and examples' fields
    come from whoever can write to the broker, and as markup a stray `[/x]` crashed the command and a
    `[link=...]` printed a hidden link."""
    from rich.text import Text

    return Text(str(value))


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
        topics.add_row(_plain(topic), str(len(hws)), str(sum(hws)))
    console.print(topics)
    groups = Table(title="Consumer groups (lag = high-water mark - committed offset)")
    for col in ("group", "topic", "lag"):
        groups.add_column(col)
    for g in status.groups:
        by_topic: dict[str, int] = {}
        for (topic, _p), lag in g.lag.items():
            by_topic[topic] = by_topic.get(topic, 0) + lag
        for topic, lag in sorted(by_topic.items()):
            groups.add_row(_plain(g.group), _plain(topic), str(lag))
    console.print(groups)
    dlq = Table(title="Latest dead letters")
    for col in ("reason", "stage", "source", "detail"):
        dlq.add_column(col)
    for d in status.dead_letters:
        source = f"{d.source_topic}/{d.source_partition}/{d.source_offset}"
        dlq.add_row(*map(_plain, (d.reason, d.stage, source, d.detail[:80])))
    console.print(dlq)
    models = Table(title="Synthesis (latest examples): model, weights, key frames seen as images")
    for col in ("model", "weights", "examples", "with images", "images per example"):
        models.add_column(col)
    for m in status.models:
        per = f"{m.images / m.examples:.1f}" if m.examples else "-"
        models.add_row(_plain(m.model), _plain(m.weights_version), str(m.examples), str(m.with_images), per)
    console.print(models)
    console.print(skips_table(status.skips))


def skips_table(skips: list[FamilySkip]) -> Table:
    """Families an intent asked for that produced nothing, by family and reason, over the latest windows."""
    from rich.table import Table

    table = Table(title="Families that produced nothing (latest windows), and why")
    for col in ("family", "reason", "windows", "intents", "latest window", "detail"):
        table.add_column(col)
    groups: dict[tuple[str, str], list[FamilySkip]] = {}
    for s in skips:
        groups.setdefault((s.task_family, s.reason), []).append(s)
    for (family, reason), group in sorted(groups.items()):
        intents = sorted({i for s in group for i in s.intent_ids})
        last = group[-1]
        table.add_row(
            *map(_plain, (family, reason, len(group), ", ".join(intents), last.window_id, last.detail[:80]))
        )
    return table
