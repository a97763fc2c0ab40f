"""`TAILOR_LOG_JSON=true`: a worker writes one JSON object per line, and a dead-lettered record's line says
where the record came from (topic, partition, offset), matching the dead letter itself."""

from __future__ import annotations

import json
import time

import pytest
from kafka import KafkaProducer

from core.records import DeadLetter
from streaming.kafka_clients import kafka_python_kwargs
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics
from tests.conftest import WorkerProcess
from tests.kafka_helpers import consume


@pytest.fixture
def settings(settings: TailorSettings) -> TailorSettings:
    return settings.model_copy(update={"log_json": True})


def json_lines(text: str) -> list[dict[str, object]]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"log line {n} is not JSON: {line[:200]!r}") from None
        assert isinstance(obj, dict) and {"ts", "level", "logger", "msg"} <= set(obj), line
        out.append(obj)
    return out


def test_worker_logs_json_lines_with_the_dead_letter_source(
    settings: TailorSettings, worker: WorkerProcess
) -> None:
    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    producer = KafkaProducer(**kafka_python_kwargs(settings, settings.kafka_bootstrap))
    producer.send(settings.topic_raw_robot, key=b"ep-json", value=b"\x80\x04 not json at all")
    producer.flush()
    producer.close()
    (msg,) = consume(settings, settings.topic_dlq, count=1, timeout_s=90)
    letter = DeadLetter.from_bytes(msg.value)
    assert letter.reason == "invalid_json"

    deadline = time.monotonic() + 30
    lines: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        lines = [obj for obj in json_lines(worker.log()) if "dead-lettered" in str(obj["msg"])]
        if lines:
            break
        time.sleep(0.3)
    (line,) = lines
    assert line["level"] == "WARNING" and "invalid_json" in str(line["msg"])
    assert (line["topic"], line["partition"], line["offset"]) == (
        letter.source_topic,
        letter.source_partition,
        letter.source_offset,
    )
    # everything the worker wrote up to now, start-up included, is JSON
    assert len(json_lines(worker.log())) >= 3
