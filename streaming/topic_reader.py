"""Read a whole topic up to its current high-water marks (for summaries, status and tests)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, TypeVar

from core.records import RecordError, TailorRecord
from streaming.kafka_clients import aiokafka_kwargs
from streaming.settings import TailorSettings

R = TypeVar("R", bound=TailorRecord)


async def read_messages_async(settings: TailorSettings, topic: str, timeout_s: float = 30.0) -> list[Any]:
    """Every message of `topic` up to the fetch high-water marks (raw consumer records)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streaming.highwaters import fetch_highwaters

    assert settings.kafka_bootstrap
    hws = await fetch_highwaters(settings, [topic], timeout_s)
    tps = [TopicPartition(t, p) for (t, p), hw in hws.items() if hw > 0]
    if not tps:
        return []
    consumer = AIOKafkaConsumer(
        **aiokafka_kwargs(settings, settings.kafka_bootstrap), enable_auto_commit=False
    )
    await consumer.start()
    out: list[Any] = []
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = {tp: hws[(tp.topic, tp.partition)] for tp in tps}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for tp, msgs in (await consumer.getmany(timeout_ms=300)).items():
                for msg in msgs:
                    out.append(msg)
                    if msg.offset + 1 >= remaining.get(tp, 0):
                        remaining.pop(tp, None)
        return out
    finally:
        await consumer.stop()


async def read_topic_async(
    settings: TailorSettings, topic: str, record: type[R], timeout_s: float = 30.0
) -> list[R]:
    """Every record of `topic` that parses as `record` (others are skipped: the reader only summarises)."""
    out: list[R] = []
    for msg in await read_messages_async(settings, topic, timeout_s):
        try:
            out.append(record.from_bytes(msg.value))
        except RecordError:
            pass
    return out


def read_topic(settings: TailorSettings, topic: str, record: type[R], timeout_s: float = 30.0) -> list[R]:
    return asyncio.run(read_topic_async(settings, topic, record, timeout_s))


async def read_range_async(
    settings: TailorSettings, topic: str, partition: int, start: int, end: int, timeout_s: float = 30.0
) -> list[tuple[int, bytes | None]]:
    """The (offset, value) of the messages of one partition in [start, end): those retention left (reading
    starts at the log's start when `start` is gone). TimeoutError when the broker does not deliver them."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    assert settings.kafka_bootstrap
    if end <= start:
        return []
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        **aiokafka_kwargs(settings, settings.kafka_bootstrap),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    out: list[tuple[int, bytes | None]] = []
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for msg in (await consumer.getmany(tp, timeout_ms=300)).get(tp, []):
                if msg.offset >= end:
                    return out
                out.append((msg.offset, msg.value))
                if msg.offset + 1 >= end:
                    return out
        raise TimeoutError(f"{topic}/{partition} [{start}, {end}) not read in {timeout_s}s")
    finally:
        await consumer.stop()
