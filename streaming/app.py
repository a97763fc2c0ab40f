"""The Faust app factory. Nothing happens at import time: `create_app(settings)` builds it all."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import faust

from agents.synthesis.factory import BackendHandle
from core.blobstore import BlobStore
from core.metrics import TailorMetrics
from core.records import DeadLetter
from streaming import executors
from streaming.faust_transport import TailorFaustApp
from streaming.ingest import IngestStage, RecordHandler
from streaming.ingest_checks import checks_for
from streaming.kafka_clients import faust_broker_kwargs
from streaming.settings import TailorSettings
from streaming.stage import DeadLetterSink
from streaming.topics import TopicSpec, topic_specs

log = logging.getLogger(__name__)

RAW_ROLES = ("raw_video", "raw_gui", "raw_robot")


class FaustDeadLetterSink(DeadLetterSink):
    def __init__(self, topic: faust.types.TopicT, metrics: TailorMetrics) -> None:
        self.topic = topic
        self.metrics = metrics

    async def send(self, letter: DeadLetter) -> None:
        await self.topic.send(key=letter.source_topic.encode(), value=letter.to_bytes())
        self.metrics.records_out.labels(self.topic.get_topic_name()).inc()


@dataclass
class TailorApp:
    """The Faust app and what was registered on it."""

    faust_app: faust.App
    metrics: TailorMetrics
    blobs: BlobStore
    stages: dict[str, IngestStage] = field(default_factory=dict)
    synthesis: Any = None
    sink: Any = None


def blob_store(settings: TailorSettings) -> BlobStore:
    root = settings.blob_uri or (settings.data_dir / "blobs").resolve().as_uri()
    return BlobStore(root, settings.allowed_uri_schemes, settings.allowed_roots)


def create_app(
    settings: TailorSettings,
    metrics: TailorMetrics,
    handlers: dict[str, list[RecordHandler]] | None = None,
    synthesis: BackendHandle | None = None,
) -> TailorApp:
    """Build the Faust app on `settings.kafka_bootstrap` and register the agents explicitly."""
    if settings.kafka_bootstrap is None:
        raise ValueError("create_app needs a bootstrap address (start the embedded broker first)")
    app = TailorFaustApp(
        settings.app_id,
        **faust_broker_kwargs(settings, settings.kafka_bootstrap),
        autodiscover=False,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=min(1.0, settings.kafka_session_timeout_s / 3),
        broker_request_timeout=max(settings.kafka_request_timeout_s, settings.kafka_session_timeout_s + 5),
        consumer_auto_offset_reset="earliest",
        producer_linger=settings.kafka_producer_linger_ms / 1000.0,
        # a window-state entry or a forwarded record is one raw message (up to max_message_bytes) plus its
        # key and framing; at Faust's 1 MB default a valid GuiStep of 2 x 1.9 M chars crashed the worker
        producer_max_request_size=settings.max_message_bytes + (1 << 20),
        datadir=str(settings.data_dir / "faust"),
    )
    app.fetch_max_wait_ms = settings.kafka_fetch_max_wait_ms
    executors.configure(settings.stage_threads)  # each stage's own thread pool (before any stage runs)
    app.shutdown_timeout_s = settings.shutdown_timeout_s
    blobs = blob_store(settings)
    tailor = TailorApp(app, metrics, blobs)
    dlq = FaustDeadLetterSink(app.topic(settings.topic_dlq, internal=False), metrics)
    if handlers is None:
        from streaming.anchor_stage import register_anchor_stage

        handlers = register_anchor_stage(app, settings, blobs, dlq, metrics)
    for spec in topic_specs(settings):
        if spec.role in RAW_ROLES:
            register_ingest(tailor, settings, spec, dlq, handlers.get(spec.role, []))
    if synthesis is not None:
        register_synthesis(tailor, settings, synthesis, dlq)
    return tailor


def register_synthesis(
    tailor: TailorApp, settings: TailorSettings, synthesis: BackendHandle, dlq: DeadLetterSink
) -> None:
    from agents.tasks.catalog import families
    from streaming.intent_book import IntentBook
    from streaming.intent_publish import intent_parser
    from streaming.sink_stage import register_sink_stage
    from streaming.synthesis_stage import register_synthesis_stage

    by_name = {f.name: f for f in families(settings.tasks)}
    chooser = synthesis.chooser if settings.intent_model_enabled else None
    book = IntentBook(
        intent_parser(settings, chooser), settings.intents_max_active
    )  # the parser `tailor intent` previews with
    tailor.synthesis = register_synthesis_stage(
        tailor.faust_app, settings, synthesis.backend, by_name, book, tailor.metrics, dlq
    )
    tailor.sink = register_sink_stage(tailor.faust_app, settings, tailor.metrics, dlq)
    register_reloads(tailor, settings, synthesis, tailor.synthesis)


def register_reloads(
    tailor: TailorApp, settings: TailorSettings, synthesis: BackendHandle, stage: Any
) -> None:
    from streaming.reload_stage import Reloads, follow_updates

    reloads = Reloads(settings, synthesis.backend, tailor.metrics, stage)

    @tailor.faust_app.task
    async def follow_model_updates() -> None:
        await follow_updates(settings, reloads)


def register_ingest(
    tailor: TailorApp,
    settings: TailorSettings,
    spec: TopicSpec,
    dlq: DeadLetterSink,
    handlers: list[RecordHandler],
) -> IngestStage:
    stage = IngestStage(
        spec=spec,
        checks=checks_for(spec.record, settings, tailor.blobs),
        limits=settings,
        metrics=tailor.metrics,
        dlq=dlq,
        handlers=handlers,
        worker_id=settings.worker_id,
        tenancy=settings,
    )
    topic = tailor.faust_app.topic(spec.name, key_serializer="raw", value_serializer="raw")
    tailor.faust_app.agent(topic, name=f"tailor.{stage.name}")(stage.agent)
    tailor.stages[spec.role] = stage
    return stage
