"""Window-state recovery reads the changelog to the fetch high-water mark, tombstones included
(the Tansu broker under-reports ListOffsets end offsets, which a Faust table would trust)."""

from __future__ import annotations

import asyncio

from kafka import KafkaProducer

from streaming.kafka_clients import kafka_python_kwargs
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics
from streaming.window_store import PartitionedState, StateRecovery, changelog_topic


def test_recovery_applies_every_change_up_to_the_last_tombstone(settings: TailorSettings) -> None:
    assert settings.kafka_bootstrap
    topic = changelog_topic(settings)
    ensure_topics(settings, settings, settings.kafka_bootstrap, extra_compacted=(topic,))
    producer = KafkaProducer(**kafka_python_kwargs(settings, settings.kafka_bootstrap))
    for p in (0, 1):
        for i in range(5):
            producer.send(topic, key=f"i|{p}|{i}".encode(), value=b"x" * 10, partition=p)
        producer.send(topic, key=f"h|{p}".encode(), value=b"header", partition=p)
        producer.flush()
        for i in range(5):  # the window closes: its items are deleted, last of all
            producer.send(topic, key=f"i|{p}|{i}".encode(), value=None, partition=p)
        producer.flush()
    producer.close()
    state = PartitionedState()
    recovery = StateRecovery(settings, state)
    applied = asyncio.run(recovery.recover({0, 1}))
    assert applied == 22
    assert dict(state.entries) == {b"h|0": b"header", b"h|1": b"header"}
    assert state.partition_of == {b"h|0": 0, b"h|1": 1}
    recovery.revoke({1})
    assert dict(state.entries) == {b"h|0": b"header"}
