"""Wiring of the windowed extraction stage onto the Faust app: state table, windowers, sweeps."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import faust
from faust.exceptions import NotReady

from agents.anchoring import WindowAnchoring
from agents.anchoring_pool import AnchoringPool
from agents.anchoring_steps import GuiAnchoring, RobotAnchoring
from agents.extractors.gui.pipeline import GuiExpertPipeline
from agents.extractors.robot.pipeline import RobotExpertPipeline
from core.blobstore import BlobStore
from core.dlq import SourcePosition
from core.metrics import TailorMetrics
from core.records import AnchorSet, TailorRecord
from streaming.anchor_emitter import AnchorEmitter
from streaming.decode_ledger import DecodeLedger
from streaming.ingest import RecordHandler
from streaming.settings import TailorSettings
from streaming.stage import DeadLetterSink
from streaming.window_store import PartitionedState, StateRecovery, TopicChangeLog, changelog_topic
from streaming.windows import GuiKeys, KeyAdapter, RobotKeys, VideoKeys, Windower, WindowState

log = logging.getLogger(__name__)


class AfterRecovery(RecordHandler):
    """Holds a partition's records until its window state is recovered."""

    def __init__(self, inner: RecordHandler, recovery: StateRecovery) -> None:
        self.inner = inner
        self.recovery = recovery

    async def handle(self, record: TailorRecord, pos: SourcePosition) -> None:
        await self.recovery.ready(pos.partition)
        await self.inner.handle(record, pos)

    @property
    def stage(self) -> str:
        return self.inner.stage  # waiting for recovery is not a stage a user knows: the windowing it guards


def frame_store(settings: TailorSettings) -> BlobStore:
    root = settings.frame_store_uri or (settings.data_dir / "frames").resolve().as_uri()
    return BlobStore(root, settings.allowed_uri_schemes, settings.allowed_roots)


def anchorings(
    settings: TailorSettings, blobs: BlobStore
) -> dict[str, tuple[KeyAdapter[Any], WindowAnchoring]]:
    from agents.anchoring_video import VideoAnchoring

    # the pipelines' settings (TAILOR_EXTRACTORS__*) under the worker-wide OCR switch (TAILOR_OCR_ENABLED)
    x = settings.extractors.with_ocr(settings.ocr_enabled)
    return {
        "raw_robot": (RobotKeys(), RobotAnchoring(blobs, settings, RobotExpertPipeline.default(x.robot))),
        "raw_gui": (GuiKeys(), GuiAnchoring(blobs, settings, GuiExpertPipeline.default(x.gui))),
        "raw_video": (VideoKeys(), VideoAnchoring(blobs, settings, ocr=x.video.ocr_enabled, config=x.video)),
    }


def register_anchor_stage(
    app: faust.App,
    settings: TailorSettings,
    blobs: BlobStore,
    dlq: DeadLetterSink,
    metrics: TailorMetrics,
) -> dict[str, list[RecordHandler]]:
    """Window state with its changelog and recovery, one Windower per raw topic, and the sweep timer."""
    data = PartitionedState()
    recovery = StateRecovery(settings, data)
    state = WindowState(data, TopicChangeLog(app, changelog_topic(settings), data))
    raw_topics = {settings.topic_raw_video, settings.topic_raw_gui, settings.topic_raw_robot}
    started = {"at": 0.0}

    def is_ready(partition: int) -> bool:
        return recovery.event(partition).is_set()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: set[Any], **kwargs: Any) -> None:
        recovery.revoke({tp.partition for tp in revoked if tp.topic in raw_topics})

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: set[Any], **kwargs: Any) -> None:
        await recovery.recover({tp.partition for tp in assigned if tp.topic in raw_topics})
        started["at"] = time.time()  # recovered windows get a full gap before they count as idle
        started["recover"] = 1.0  # look for interrupted closes once, on the next sweep

    anchors_topic = app.topic(settings.topic_anchors, key_serializer="raw", value_serializer="raw")

    async def send(anchor_set: AnchorSet) -> None:
        await anchors_topic.send(key=anchor_set.window_id.encode(), value=anchor_set.to_bytes())
        metrics.records_out.labels(settings.topic_anchors).inc()

    frames = frame_store(settings)
    windowers: dict[str, Windower] = {}
    domains = anchorings(settings, blobs)
    pool = None
    if settings.window_decode_processes:  # one pool for the three domains: at most that many decoders
        pool = AnchoringPool({a.domain: anchoring for a, anchoring in domains.values()}, settings)
    ledger = DecodeLedger(state, settings.window_decode_attempts)
    for role, (adapter, anchoring) in domains.items():
        emitter = AnchorEmitter(
            anchoring,
            frames,
            send,
            dlq,
            metrics,
            settings.window_extract_timeout_s,
            settings.max_key_frames,
            settings.worker_id,
            pool=pool,
            ledger=ledger,
        )
        windowers[role] = Windower(adapter, state, emitter, settings, blobs, metrics, ready=is_ready)

    @app.timer(settings.window_sweep_interval_s, name="tailor.window_sweep")
    async def sweep() -> None:
        await sweep_windows(app, windowers.values(), started, metrics)

    return {role: [AfterRecovery(w, recovery)] for role, w in windowers.items()}


async def sweep_windows(
    app: Any, windowers: Iterable[Windower], started: dict[str, float], metrics: TailorMetrics
) -> None:
    """One tick of the window sweep: interrupted closes once per assignment, then idle and final windows.

    Nothing closes while the group rebalances. Faust stops the flow as a rebalance begins and waits for the
    events in flight (a synthesis batch, a sink flush) before the partitions are revoked: windows get no
    items in that time, and closing them as idle would cut them in two (the rest of the key's items reach the
    partition's next owner, which opens a second window). When the flow resumes every window gets a full
    gap again."""
    windowers = list(windowers)
    if app.should_stop or app.producer is None:
        return
    try:
        if getattr(app, "rebalancing", False):
            started["paused"] = 1.0
            return
        if not started["at"]:
            return  # no partitions assigned and recovered yet
        if started.pop("paused", 0.0):
            started["at"] = time.time()
        if started.get("recover"):
            # closes interrupted by a crash: once per assignment (it scans the whole state)
            started["recover"] = 0.0
            for windower in windowers:
                await windower.recover()
        for windower in windowers:
            await windower.sweep(active_since=started["at"])
    except NotReady:
        # shutting down or not started: the window keeps its items and closes on the next run
        log.info("window sweep skipped: producer not ready")
    except Exception:  # the timer must never crash the worker
        log.exception("window sweep failed")
        metrics.stage_dropped.labels("window_sweep", "internal_error").inc()
    finally:
        for windower in windowers:
            metrics.open_windows.labels(windower.adapter.domain).set(windower.open_windows())
