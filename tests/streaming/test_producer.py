"""The producer helper against a real broker: an idempotent kafka-python producer that resets its producer
id (as its sender does when a batch it already sent expires during an outage) keeps delivering."""

from __future__ import annotations

import logging
import time

from kafka.errors import KafkaTimeoutError

from core.records import RobotStep
from streaming.kafka_clients import kafka_python_kwargs
from streaming.producer import TailorProducer, mend_idempotent_reset
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics, spec_for
from tests.kafka_helpers import consume

log = logging.getLogger(__name__)


def step(i: int) -> RobotStep:
    return RobotStep(
        episode_id="ep-reset", step_index=i, timestamp=float(i), state=[0.0] * 7, action=[0.0] * 7
    )


def test_a_producer_that_resets_its_producer_id_keeps_delivering(settings: TailorSettings) -> None:
    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    producer = TailorProducer.connect(settings.kafka_bootstrap, settings, settings)
    try:
        tm = producer.producer._transaction_manager
        assert tm is not None and not tm.is_transactional()  # idempotent by default
        producer.send(step(0)).get(timeout=30)
        first_id = tm.producer_id_and_epoch.producer_id
        tm.reset_producer_id()  # what the sender does when an already-sent batch expires
        assert not tm.has_producer_id()
        producer.send(step(1)).get(timeout=30)  # without the mend this is never acknowledged nor failed
        assert tm.has_producer_id()
        assert (tm.producer_id_and_epoch.producer_id, tm.producer_id_and_epoch.epoch) != (-1, -1)
        log.info("producer id %s before the reset, %s after", first_id, tm.producer_id_and_epoch)
    finally:
        producer.close()
    spec = spec_for(settings, RobotStep)
    msgs = consume(settings, spec.name, count=2, timeout_s=20)
    got = [RobotStep.from_bytes(m.value).step_index for m in msgs]
    assert sorted(got) == [0, 1]


def test_the_unmended_client_stalls_after_a_reset(settings: TailorSettings) -> None:
    """Why the mend exists: kafka-python 3.0.12 alone waits forever for a producer id it never requests.
    If this starts failing, the library has fixed the bug and `mend_idempotent_reset` can go."""
    from kafka import KafkaProducer

    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    raw = KafkaProducer(**kafka_python_kwargs(settings, settings.kafka_bootstrap), acks="all")
    try:
        topic = spec_for(settings, RobotStep).name
        raw.send(topic, key=b"k", value=step(0).to_bytes()).get(timeout=30)
        raw._transaction_manager.reset_producer_id()
        fut = raw.send(topic, key=b"k", value=step(1).to_bytes())
        time.sleep(5)
        assert not fut.is_done, "kafka-python now recovers by itself"
        assert not raw._transaction_manager.has_producer_id()
    finally:
        try:
            raw.close(timeout=0)
        except KafkaTimeoutError:
            raw._sender.force_close()


def test_the_mend_leaves_a_transactional_producer_alone() -> None:
    class Tm:
        def is_transactional(self) -> bool:
            return True

    class Producer:
        _transaction_manager = Tm()

    assert not mend_idempotent_reset(Producer())
    assert not mend_idempotent_reset(object())
