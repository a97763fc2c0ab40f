"""The Parquet sink stage: examples topic → Parquet dataset, flushed before offsets are committed
(a batch is acknowledged only after its rows are on disk), idempotent by example id. The plug-in sinks
named by `sink_plugins` (entry points of `tailor.sinks`, docs/extending.md) get each batch after it.
With `sink_rejected` on, a second stage of the same kind writes the rejected topic to the dataset's
`__rejected/` table (streaming/sinks/rejected.py), so the audit page shows refused candidates and why."""

from __future__ import annotations

from typing import Any

import faust

from core import plugins
from core.dlq import SourcePosition
from core.metrics import TailorMetrics
from core.records import Example, RejectedExample
from streaming.executors import in_stage
from streaming.settings import TailorSettings
from streaming.sinks.base import ExampleSink
from streaming.sinks.parquet_sink import ParquetSink, PartitionedSink
from streaming.sinks.parquet_sink_config import ParquetSinkConfig
from streaming.sinks.rejected import RejectedSink
from streaming.stage import DeadLetterSink, Source, Stage


def examples_root(settings: TailorSettings) -> Any:
    return settings.examples_dir or settings.data_dir / "examples"


class SinkStage(Stage):
    """Decodes a batch of examples (an unreadable one goes down the shared failure path) and writes the rest.

    A failure to write or flush the batch is not one record's fault: it is left to raise, so the batch is
    not acknowledged and nothing is lost."""

    def __init__(
        self,
        settings: TailorSettings,
        sink: PartitionedSink[Any],
        metrics: TailorMetrics,
        dlq: DeadLetterSink,
        extra: list[ExampleSink] | None = None,
        record: type[Example | RejectedExample] = Example,
    ) -> None:
        super().__init__(metrics, dlq, settings.worker_id, settings.dlq_payload_bytes)
        self.settings = settings
        self.sink = sink
        self.extra = list(extra or [])  # plug-in sinks: every batch, after the Parquet sink
        self.record = record  # Example: the examples table; RejectedExample: the rejected table
        self.opened = False

    @property
    def name(self) -> str:
        return "parquet_sink" if self.record is Example else "parquet_rejected_sink"

    async def decode(self, value: bytes | None) -> Example | RejectedExample:
        return self.record.from_bytes(value, max_bytes=self.settings.max_message_bytes)

    async def write(self, events: list[Any]) -> None:
        if not self.opened:
            await in_stage("sink", self.sink.open)
            for extra in self.extra:
                await in_stage("sink", extra.open)
            self.opened = True
        batch = []
        for event in events:
            msg = event.message
            source = Source(SourcePosition(msg.topic, msg.partition, msg.offset), event.key, event.value)
            example = await self.guarded(self.decode(event.value), source)
            if example is not None:
                batch.append(example)
        added = await in_stage("sink", self.sink.add, batch)
        await in_stage("sink", self.sink.flush)  # on disk before these events are acknowledged
        if self.record is not Example:  # the sink metrics count training rows only
            return
        self.metrics.sink_rows.inc(added)
        self.metrics.sink_duplicates.inc(len(batch) - added)
        for extra in self.extra:  # a failure raises like the Parquet sink's: the batch is not acknowledged
            await in_stage("sink", extra.add, batch)
            await in_stage("sink", extra.flush)


def plugin_sinks(settings: TailorSettings) -> list[ExampleSink]:
    """The plug-in sinks `settings.sink_plugins` names, made in that order: an ExampleSink subclass or a
    function, called with the settings."""
    if not settings.sink_plugins:
        return []
    installed = plugins.load(
        plugins.SINKS,
        (ParquetSink.name,),
        plugins.class_or_function(ExampleSink),
        "an ExampleSink subclass or a function of the settings returning one",
    )
    found = {p.name: p for p in installed}
    out = []
    for name in settings.sink_plugins:
        p = found.get(name)
        if p is None:
            raise ValueError(
                f"sink_plugins names {name!r}, which is not installed; installed: {', '.join(found)}"
            )
        sink: ExampleSink = plugins.build(p, ExampleSink, settings)
        plugins.same_name(p, getattr(sink, "name", None))
        out.append(sink)
    return out


def register_sink_stage(
    app: faust.App, settings: TailorSettings, metrics: TailorMetrics, dlq: DeadLetterSink
) -> ParquetSink:
    from streaming.anchor_stage import frame_store

    config = ParquetSinkConfig(
        root=examples_root(settings), writer_id=settings.worker_id, embed_frames=settings.sink_embed_frames
    )
    sink = ParquetSink(config, frame_store(settings))
    stage = SinkStage(settings, sink, metrics, dlq, plugin_sinks(settings))
    topic = app.topic(settings.topic_examples, key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="tailor.parquet_sink")
    async def write(stream: Any) -> None:
        async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_flush_s):
            await stage.write(list(events))

    if settings.sink_rejected:  # its own writer id: the two sinks of one worker never share a file name
        rejected = RejectedSink(config.model_copy(update={"writer_id": f"{settings.worker_id}-rejected"}))
        rejected_stage = SinkStage(settings, rejected, metrics, dlq, record=RejectedExample)
        rejected_topic = app.topic(settings.topic_rejected, key_serializer="raw", value_serializer="raw")

        @app.agent(rejected_topic, name="tailor.parquet_rejected_sink")
        async def write_rejected(stream: Any) -> None:
            async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_flush_s):
                await rejected_stage.write(list(events))

    return sink
