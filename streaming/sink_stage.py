"""The Parquet sink stage: examples topic → Parquet dataset, flushed before offsets are committed
(a batch is acknowledged only after its rows are on disk), idempotent by example id."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from core.metrics import TailorMetrics
from core.records import Example, RecordError
from streaming.settings import TailorSettings
from streaming.sinks.parquet_sink import ParquetSink
from streaming.sinks.parquet_sink_config import ParquetSinkConfig

log = logging.getLogger(__name__)


def examples_root(settings: TailorSettings) -> Any:
    return settings.examples_dir or settings.data_dir / "examples"


def register_sink_stage(app: faust.App, settings: TailorSettings, metrics: TailorMetrics) -> ParquetSink:
    from streaming.anchor_stage import frame_store

    sink = ParquetSink(ParquetSinkConfig(root=examples_root(settings), writer_id=settings.worker_id,
                                         embed_frames=settings.sink_embed_frames), frame_store(settings))
    topic = app.topic(settings.topic_examples, key_serializer="raw", value_serializer="raw")
    opened = {"done": False}

    @app.agent(topic, name="tailor.parquet_sink")
    async def write(stream: Any) -> None:
        async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_flush_s):
            if not opened["done"]:
                await asyncio.to_thread(sink.open)
                opened["done"] = True
            batch = []
            for event in events:
                try:
                    batch.append(Example.from_bytes(event.value, max_bytes=settings.max_message_bytes))
                except RecordError as exc:  # the examples topic is ours: log and count, it cannot be replayed better
                    log.warning("unreadable example at offset %s: %s", event.message.offset, exc)
                    metrics.stage_dropped.labels("parquet_sink", exc.reason).inc()
            added = await asyncio.to_thread(sink.add, batch)
            await asyncio.to_thread(sink.flush)  # on disk before these events are acknowledged
            metrics.sink_rows.inc(added)
            metrics.sink_duplicates.inc(len(batch) - added)

    return sink
