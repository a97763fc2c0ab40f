"""A bug in a stage is one record's loss, not the worker's: a task family's validator that raises in a live
worker gives a counted dead letter for that anchor set (its source offset, key and bytes), and the other
windows of the batch, and those after it, still become examples. The anchoring and sink stages take the same
failure path (in process: their inputs are hard to break through a live worker)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from kafka import KafkaProducer
from prometheus_client import CollectorRegistry

from agents.anchoring import WindowAnchoring, WindowFacts
from agents.extractors.base import ExtractorError
from agents.intents import IntentParser
from agents.synthesis.rules_backend import RulesBackend
from core.blobstore import BlobStore
from core.metrics import TailorMetrics
from core.records import AnchorSet, DeadLetter, Example, Intent
from core.window import ClosedWindow
from streaming.anchor_emitter import AnchorEmitter
from streaming.intent_book import IntentBook
from streaming.intent_publish import IntentRequest, publish_intent
from streaming.kafka_clients import kafka_python_kwargs
from streaming.settings import TailorSettings
from streaming.sink_stage import SinkStage
from streaming.sinks.parquet_sink import ParquetSink
from streaming.sinks.parquet_sink_config import ParquetSinkConfig
from streaming.stage import DeadLetterSink
from streaming.synthesis_stage import SynthesisStage
from streaming.topics import ensure_topics
from tests.agents.synthesis.test_model_outage import anchors as outage_anchors
from tests.conftest import WorkerProcess, start_worker_process, stop_worker_process
from tests.kafka_helpers import consume
from tests.streaming.buggy_validator_worker import BUGGY_KEY, families
from tests.streaming.sinks.sink_helpers import make_example

INTENT = "next subtask data from my robot"


def anchor_set(key: str) -> AnchorSet:
    """The outage test's robot window (two anchored subtasks: next_subtask has something to say), keyed `key`."""
    return outage_anchors().model_copy(
        update={"window_id": f"robot:{key}:0", "key": key, "created_at": time.time()}
    )


def example_windows(settings: TailorSettings, want: set[str], timeout_s: float = 60) -> set[str]:
    deadline = time.monotonic() + timeout_s
    seen: set[str] = set()
    while time.monotonic() < deadline and not want <= seen:
        msgs = consume(settings, settings.topic_examples, timeout_s=5, idle_s=1)
        seen = {Example.from_bytes(m.value).window_id for m in msgs}
    return seen


def test_a_validator_bug_is_dead_lettered_and_synthesis_goes_on(
    settings: TailorSettings, tmp_path: Path
) -> None:
    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    # the intent first, so the worker starts with it in its book (no window is judged without it)
    publish_intent(settings, IntentRequest(text=INTENT, domain="robot"))
    worker: WorkerProcess = start_worker_process(
        settings, tmp_path / "worker.log", ("-m", "tests.streaming.buggy_validator_worker")
    )
    producer = KafkaProducer(**kafka_python_kwargs(settings, settings.kafka_bootstrap))
    try:
        buggy, first = anchor_set(BUGGY_KEY), anchor_set("ep-1")
        # one batch: the buggy window's job fails, the other window's job of the same batch is emitted
        sent = producer.send(
            settings.topic_anchors, key=buggy.window_id.encode(), value=buggy.to_bytes()
        ).get(30)
        producer.send(settings.topic_anchors, key=first.window_id.encode(), value=first.to_bytes())
        producer.flush()

        (msg,) = consume(settings, settings.topic_dlq, count=1, timeout_s=60)
        letter = DeadLetter.from_bytes(msg.value)
        assert (letter.stage, letter.reason) == ("synthesis", "internal_error"), (
            letter,
            worker.log()[-3000:],
        )
        assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
            settings.topic_anchors,
            sent.partition,
            sent.offset,
        )
        assert letter.key == buggy.window_id.encode() and letter.payload == buggy.to_bytes()
        assert "ZeroDivisionError" in letter.detail and "next_subtask" in letter.detail
        assert (
            worker.metric(
                "tailor_dead_lettered_total",
                topic=settings.topic_anchors,
                stage="synthesis",
                reason="internal_error",
            )
            == 1
        )

        # the agent lives on: a window sent after the failure is synthesised too
        later = anchor_set("ep-2")
        producer.send(settings.topic_anchors, key=later.window_id.encode(), value=later.to_bytes())
        producer.flush()
        want = {first.window_id, later.window_id}
        seen = example_windows(settings, want)
        assert want <= seen, (seen, worker.log()[-3000:])
        assert buggy.window_id not in seen
        assert "ZeroDivisionError" in worker.log()  # logged with its traceback
        assert worker.metric("tailor_dead_lettered_total") == 1
        assert worker.proc.poll() is None
    finally:
        producer.close()
        stop_worker_process(worker)


@dataclass
class Event:
    """What Faust's take_events hands the synthesis agent: a message's key, value and position."""

    key: bytes
    value: bytes
    message: SimpleNamespace


class Letters(DeadLetterSink):
    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []

    async def send(self, letter: DeadLetter) -> None:
        self.sent.append(letter)


def test_the_other_jobs_of_the_failing_batch_are_emitted(tmp_path: Path) -> None:
    """The same stage in process, one batch made by hand: exactly one letter, the batch's other job emitted."""
    settings = TailorSettings(data_dir=tmp_path, synth_candidates=1)
    by_name = {f.name: f for f in families()}
    book = IntentBook(IntentParser(by_name, None, settings.default_budget))
    asyncio.run(book.apply(Intent(intent_id="i-1", text=INTENT, domain="robot", created_at=time.time())))
    published: list[tuple[str, str, bytes]] = []

    async def publish(topic: str, key: str, value: bytes) -> None:
        published.append((topic, key, value))

    letters = Letters()
    stage = SynthesisStage(
        settings, RulesBackend(), by_name, book, TailorMetrics(CollectorRegistry()), letters, publish
    )
    buggy, good = anchor_set(BUGGY_KEY), anchor_set("ep-1")
    events = [
        Event(a.window_id.encode(), a.to_bytes(), SimpleNamespace(topic="anchors", partition=1, offset=n))
        for n, a in enumerate((buggy, good), start=7)
    ]
    asyncio.run(stage.handle_batch(events))  # before the change the validator's exception escaped from here
    (letter,) = letters.sent
    assert (letter.stage, letter.reason, letter.source_offset, letter.key) == (
        "synthesis",
        "internal_error",
        7,
        buggy.window_id.encode(),
    )
    examples = [Example.from_bytes(v) for t, _k, v in published if t == settings.topic_examples]
    assert [e.window_id for e in examples] == [good.window_id]


class Breaks(WindowAnchoring):
    """An anchoring step that fails as its window's key says: a refusal, too slow, or a bug."""

    def facts(self, window: ClosedWindow) -> WindowFacts:
        if window.key == "refused":
            raise ExtractorError("robot", "no_frames", "nothing to anchor")
        if window.key == "slow":
            time.sleep(0.3)
        raise KeyError("a bug in the expert")


def test_anchoring_failures_take_the_same_path(tmp_path: Path) -> None:
    settings = TailorSettings(data_dir=tmp_path)
    blobs = BlobStore.for_dir(tmp_path / "frames")
    letters, metrics = Letters(), TailorMetrics(CollectorRegistry())

    async def send(anchors: AnchorSet) -> None:
        raise AssertionError("nothing is anchored")

    emitter = AnchorEmitter(Breaks(blobs, settings), blobs, send, letters, metrics, 0.1, 4, "w0")
    for n, key in enumerate(("refused", "slow", "buggy")):
        asyncio.run(emitter.close(ClosedWindow("robot", key, 0, "raw.robot", 1, 10 * n, 10 * n + 9)))
    assert [(d.stage, d.reason, d.source_offset, d.payload) for d in letters.sent] == [
        ("anchors_robot", "no_frames", 0, b"robot:refused:0"),
        ("anchors_robot", "extract_timeout", 10, b"robot:slow:0"),
        ("anchors_robot", "internal_error", 20, b"robot:buggy:0"),
    ]
    assert letters.sent[2].detail == "window robot:buggy:0: KeyError: 'a bug in the expert'"
    assert (
        metrics.registry.get_sample_value(
            "tailor_dead_lettered_total",
            {"topic": "raw.robot", "stage": "anchors_robot", "reason": "internal_error"},
        )
        == 1
    )


def test_an_unreadable_example_is_dead_lettered_and_the_rest_written(tmp_path: Path) -> None:
    settings = TailorSettings(data_dir=tmp_path)
    blobs = BlobStore.for_dir(tmp_path / "frames")
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path / "examples", writer_id="w0"), blobs)
    letters, metrics = Letters(), TailorMetrics(CollectorRegistry())
    good = make_example(1, "next_subtask", [])
    events = [
        Event(b"bad", b"{not an example", SimpleNamespace(topic="examples", partition=0, offset=3)),
        Event(
            good.example_id.encode(),
            good.to_bytes(),
            SimpleNamespace(topic="examples", partition=0, offset=4),
        ),
    ]
    asyncio.run(SinkStage(settings, sink, metrics, letters).write(events))
    (letter,) = letters.sent
    assert (letter.stage, letter.reason, letter.source_offset) == ("parquet_sink", "invalid_json", 3)
    assert metrics.registry.get_sample_value("tailor_sink_rows_total") == 1
