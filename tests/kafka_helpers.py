"""Small test helpers around a real broker (kafka-python, no mocks)."""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaConsumer

from streaming.kafka_clients import kafka_python_kwargs
from streaming.settings import TailorSettings


def consume(
    settings: TailorSettings,
    topic: str,
    *,
    count: int | None = None,
    timeout_s: float = 30.0,
    idle_s: float = 3.0,
) -> list[Any]:
    """Read `topic` from the beginning until `count` messages arrived (or, with count=None, until idle)."""
    assert settings.kafka_bootstrap
    consumer = KafkaConsumer(
        topic,
        **kafka_python_kwargs(settings, settings.kafka_bootstrap),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=int(idle_s * 1000),
    )
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            got = [m for msgs in batch.values() for m in msgs]
            out.extend(got)
            if count is not None and len(out) >= count:
                break
            if count is None and not got and out:
                idle_deadline = time.monotonic() + idle_s
                while time.monotonic() < idle_deadline:
                    more = consumer.poll(timeout_ms=300)
                    if more:
                        out.extend(m for msgs in more.values() for m in msgs)
                        idle_deadline = time.monotonic() + idle_s
                break
    finally:
        consumer.close()
    return out
