"""A small producer helper for recorders: publish typed records to their topics.

Example (a robot recorder)::

    from streaming.producer import TailorProducer
    from streaming.records import RobotStep

    with TailorProducer.connect("broker:9092") as producer:
        for i, (state, action) in enumerate(control_loop()):
            producer.send(RobotStep(episode_id="ep-42", step_index=i, timestamp=time.time(),
                                    state=state, action=action, instruction="put the cup on the plate"))

Records are keyed by their stream / session / episode id, so one key's steps stay in order on one
partition. `send` returns a future; `flush()` waits for every send and raises if any failed. While
the broker is unreachable, sends wait in the client's buffer and go out when it is back; a record not
acknowledged within `kafka_delivery_timeout_s` fails its future (see docs/reliability.md).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from streaming.kafka_clients import kafka_python_kwargs
from streaming.kafka_config import KafkaConfig
from streaming.records import TailorRecord
from streaming.topics import record_key, spec_for
from streaming.topics_config import TopicsConfig


class TailorProducer:
    def __init__(self, producer: Any, topics: TopicsConfig) -> None:
        self.producer = producer
        self.topics = topics
        self._pending: list[Any] = []

    @classmethod
    def connect(
        cls,
        bootstrap: str,
        kafka: KafkaConfig | None = None,
        topics: TopicsConfig | None = None,
        **producer_kwargs: Any,
    ) -> Self:
        from kafka import KafkaProducer

        cfg = kafka or KafkaConfig()
        kwargs = kafka_python_kwargs(cfg, bootstrap)
        kwargs.update(
            acks="all", linger_ms=5, retries=10, max_request_size=32 << 20,
            max_in_flight_requests_per_connection=1,  # keep per-key order across retries
            # while the broker is unreachable records wait in the buffer (not counted as retries); past this
            # they are reported failed through their futures, never dropped silently
            delivery_timeout_ms=int(cfg.kafka_delivery_timeout_s * 1000),
        )
        kwargs.update(producer_kwargs)
        return cls(KafkaProducer(**kwargs), topics or TopicsConfig())

    def send(self, record: TailorRecord, timestamp: float | None = None) -> Any:
        spec = spec_for(self.topics, type(record))
        future = self.producer.send(
            spec.name,
            key=record_key(spec, record),
            value=record.to_bytes(),
            timestamp_ms=int(timestamp * 1000) if timestamp is not None else None,
        )
        self._pending.append(future)
        return future

    def flush(self, timeout: float = 60.0) -> int:
        """Wait for all sends; raise the first failure. Return how many were acknowledged."""
        self.producer.flush(timeout=timeout)
        pending, self._pending = self._pending, []
        for fut in pending:
            fut.get(timeout=timeout)
        return len(pending)

    def close(self) -> None:
        self.producer.close(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.close()
