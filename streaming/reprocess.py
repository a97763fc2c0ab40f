"""`tailor reprocess`: apply intents to the windows already anchored, without replaying their recordings.

A worker applies an intent only to windows that close after it arrives, and replaying a recording again does
not window it again (its items are late events). The anchors topic keeps every window's anchors, so this
command runs the synthesis step on them here, the way the worker's synthesis stage does (the same
`SynthesisStage`, backend, intent parser and validators), and publishes what comes out to the examples,
rejected and skips topics; the worker's sink writes the accepted examples to the dataset as it does its own.

The intents' budgets count from zero here (the workers' counts are their own); an example whose id the
dataset already holds (the same window, family, model and content, made earlier for another intent) is not
written again.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

from core.errors import TailorError
from core.metrics import TailorMetrics
from core.records import AnchorSet, DeadLetter, Intent, RecordError
from streaming.settings import TailorSettings
from streaming.stage import DeadLetterSink


class ReprocessError(TailorError, ValueError):
    """A labelled failure of this module (`reason`, `detail`)."""


@dataclass
class ReprocessResult:
    windows: int = 0
    intents: list[str] = field(default_factory=list)
    published: Counter[str] = field(default_factory=Counter)  # messages by topic
    seconds: float = 0.0


def select_windows(messages: list[Any], max_bytes: int, window: str | None, stream: str | None) -> list[Any]:
    """The anchors messages to reprocess, in topic order: the first copy of each window (a redelivered window
    is on the topic twice), only those of `window` / `stream` when given; unreadable messages are left out
    (the worker dead-lettered them when they arrived)."""
    seen: set[str] = set()
    out = []
    for msg in messages:
        try:
            a = AnchorSet.from_bytes(msg.value, max_bytes=max_bytes)
        except RecordError:
            continue
        if a.window_id in seen or (window and a.window_id != window) or (stream and a.key != stream):
            continue
        seen.add(a.window_id)
        out.append(msg)
    return out


async def reprocess_async(
    settings: TailorSettings,
    intent_ids: list[str] | None = None,
    window: str | None = None,
    stream: str | None = None,
) -> ReprocessResult:
    from aiokafka import AIOKafkaProducer

    from agents.synthesis.factory import open_backend
    from agents.tasks.catalog import families
    from streaming.anchor_stage import frame_store
    from streaming.intent_book import IntentBook
    from streaming.intent_publish import intent_parser
    from streaming.kafka_clients import aiokafka_kwargs
    from streaming.synthesis_stage import SynthesisStage
    from streaming.topic_reader import read_messages_async, read_topic_async

    assert settings.kafka_bootstrap
    started = time.monotonic()
    result = ReprocessResult()
    latest: dict[str, Intent] = {}
    for intent in await read_topic_async(settings, settings.topic_intents, Intent):
        latest[intent.intent_id] = intent  # compacted: the last record of an id is the intent
    active = [i for i in latest.values() if i.active]
    intents = [i for i in active if intent_ids is None or i.intent_id in intent_ids]
    missing = sorted(set(intent_ids or ()) - {i.intent_id for i in intents})
    if missing:
        raise ReprocessError("unknown_intent", f"no active intent {', '.join(missing)} on the intents topic")
    if not intents:
        raise ReprocessError(
            "no_intents", "no active intent on the intents topic (publish one: tailor intent)"
        )
    messages = await read_messages_async(settings, settings.topic_anchors)
    chosen = select_windows(messages, settings.max_message_bytes, window, stream)
    if not chosen:
        raise ReprocessError("no_windows", "no window on the anchors topic matches")
    handle = open_backend(settings, settings.intent_model_timeout_s, settings.intent_model_enabled)
    producer = AIOKafkaProducer(**aiokafka_kwargs(settings, settings.kafka_bootstrap))
    await producer.start()
    try:
        book = IntentBook(intent_parser(settings, handle.chooser))  # the worker's parser
        for intent in intents:
            await book.apply(intent)
        result.intents = [i.intent_id for i in intents]

        async def publish(topic: str, key: str, value: bytes) -> None:
            await producer.send_and_wait(topic, key=key.encode(), value=value)
            result.published[topic] += 1

        class Letters(DeadLetterSink):
            async def send(self, letter: DeadLetter) -> None:
                await publish(settings.topic_dlq, letter.source_topic, letter.to_bytes())

        metrics = TailorMetrics(CollectorRegistry())
        by_name = {f.name: f for f in families(settings.tasks)}
        stage = SynthesisStage(
            settings, handle.backend, by_name, book, metrics, Letters(), publish, frames=frame_store(settings)
        )
        size = settings.synth_batch_size
        for start in range(0, len(chosen), size):  # batches as the worker takes them, in topic order
            batch = chosen[start : start + size]
            await stage.handle_batch([SimpleNamespace(message=m, key=m.key, value=m.value) for m in batch])
        result.windows = len(chosen)
    finally:
        await producer.stop()
        await handle.backend.close()
        handle.stop()
    result.seconds = time.monotonic() - started
    return result
