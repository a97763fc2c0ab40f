"""A small producer helper for recorders: publish typed records to their topics.

Example (a robot recorder)::

    from streaming.producer import TailorProducer
    from core.records import RobotStep

    with TailorProducer.connect("broker:9092") as producer:
        for i, (state, action) in enumerate(control_loop()):
            producer.send(RobotStep(episode_id="ep-42", step_index=i, timestamp=time.time(),
                                    state=state, action=action, instruction="put the cup on the plate"))

Records are keyed by their stream / session / episode id, so one key's steps stay in order on one
partition. `send` returns a future; `flush()` waits for every send and raises if any failed. While
the broker is unreachable, sends wait in the client's buffer and go out when it is back; a record not
acknowledged within `kafka_delivery_timeout_s` fails its future (see docs/reliability.md). The producer
is idempotent (kafka-python's default); `mend_idempotent_reset` keeps a kafka-python 3.0.12 bug from
stalling it for good after an outage.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Self

from core.records import TailorRecord
from core.tenancy import TENANT_HEADER, tenant_mac
from core.topics_config import TopicsConfig
from streaming.kafka_clients import kafka_python_kwargs
from streaming.kafka_config import KafkaConfig
from streaming.topics import record_key, spec_for

log = logging.getLogger(__name__)


def mend_idempotent_reset(producer: Any) -> bool:
    """Let an idempotent kafka-python producer ask for a new producer id after it resets its own.

    kafka-python 3.0.12 resets the producer id when a batch it already sent expires (an outage longer
    than the delivery timeout), but leaves its transaction state READY. Its sender then waits for a
    producer id that it never requests: nothing is sent, and no record expires or fails again, so
    flush() never returns and every later record is left unreported. The Java client moves to
    UNINITIALIZED at this point (`resetIdempotentProducerId`), and its sender then requests a new id.
    This does the same on the producer's own transaction manager. It acts only on the faulty state:
    non-transactional, no producer id, and still READY. Returns whether the producer was mended."""
    from kafka.producer.transaction_manager import TransactionState

    tm = getattr(producer, "_transaction_manager", None)
    if tm is None or tm.is_transactional():
        return False
    reset = tm.reset_producer_id

    def reset_producer_id() -> None:
        reset()
        with tm._lock:
            if not tm.has_producer_id() and tm._current_state == TransactionState.READY:
                log.warning(
                    "Kafka producer id reset (a batch already sent expired or failed): requesting a new one"
                )
                tm._current_state = TransactionState.UNINITIALIZED

    tm.reset_producer_id = reset_producer_id
    return True


class TailorProducer:
    def __init__(self, producer: Any, topics: TopicsConfig, tenant_key: bytes | None = None) -> None:
        self.producer = producer
        self.topics = topics
        self.tenant_key = tenant_key  # records naming a tenant get its MAC header (core/tenancy.py)
        self._pending: list[Any] = []

    @classmethod
    def connect(
        cls,
        bootstrap: str,
        kafka: KafkaConfig | None = None,
        topics: TopicsConfig | None = None,
        tenant_key: bytes | None = None,
        **producer_kwargs: Any,
    ) -> Self:
        from kafka import KafkaProducer

        cfg = kafka or KafkaConfig()
        kwargs = kafka_python_kwargs(cfg, bootstrap)
        kwargs.update(
            acks="all",
            linger_ms=5,
            retries=10,
            max_request_size=32 << 20,
            max_in_flight_requests_per_connection=1,  # keep per-key order across retries
            # while the broker is unreachable records wait in the buffer (not counted as retries); past this
            # they are reported failed through their futures, never dropped silently
            delivery_timeout_ms=int(cfg.kafka_delivery_timeout_s * 1000),
        )
        kwargs.update(producer_kwargs)
        producer = KafkaProducer(**kwargs)
        mend_idempotent_reset(producer)
        return cls(producer, topics or TopicsConfig(), tenant_key)

    def send(self, record: TailorRecord, timestamp: float | None = None) -> Any:
        spec = spec_for(self.topics, type(record))
        value = record.to_bytes()
        headers = None
        if self.tenant_key is not None and getattr(record, "tenant", None) is not None:
            headers = [(TENANT_HEADER, tenant_mac(self.tenant_key, value))]
        future = self.producer.send(
            spec.name,
            key=record_key(spec, record),
            value=value,
            headers=headers,
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
