"""High-water marks of topic partitions, read from fetch responses (never ListOffsets / end offsets,
which the Tansu broker reports wrongly)."""

from __future__ import annotations

import time

from streaming.kafka_clients import aiokafka_kwargs
from streaming.settings import TailorSettings


async def fetch_highwaters(
    settings: TailorSettings, topics: list[str], timeout_s: float = 10.0
) -> dict[tuple[str, int], int]:
    """High-water mark of every partition of `topics`, read from fetch responses."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    assert settings.kafka_bootstrap
    consumer = AIOKafkaConsumer(
        **aiokafka_kwargs(settings, settings.kafka_bootstrap),
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=1024,
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        tps = []
        for topic in topics:
            parts = consumer.partitions_for_topic(topic)
            if parts is None:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(topic) or set()
            tps += [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return {}
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout_s
        result: dict[tuple[str, int], int] = {}
        while len(result) < len(tps) and time.monotonic() < deadline:
            await consumer.getmany(timeout_ms=200, max_records=1)
            for tp in tps:
                hw = consumer.highwater(tp)
                if hw is not None:
                    result[(tp.topic, tp.partition)] = hw
                    consumer.pause(tp)
        return result
    finally:
        await consumer.stop()
