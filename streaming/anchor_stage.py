"""Wiring of the windowed extraction stage onto the Faust app: state table, windowers, sweeps."""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from faust.exceptions import NotReady

from agents.anchoring import AnchorEmitter, WindowAnchoring
from agents.anchoring_steps import GuiAnchoring, RobotAnchoring
from agents.extractors.gui.pipeline import GuiExpertPipeline
from agents.extractors.gui.pipeline_config import GuiPipelineConfig
from agents.extractors.robot.pipeline import RobotExpertPipeline
from streaming.blobstore import BlobStore
from streaming.ingest import DeadLetterSink, RecordHandler
from streaming.metrics import TailorMetrics
from streaming.records import AnchorSet
from streaming.settings import TailorSettings
from streaming.windows import ChangeLog, GuiKeys, KeyAdapter, RobotKeys, VideoKeys, Windower, WindowState

log = logging.getLogger(__name__)


class TableChangeLog(ChangeLog):
    """Changes go to the Faust table's changelog topic, on the source record's partition."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def record(self, partition: int, key: bytes, value: bytes | None) -> None:
        self.table.send_changelog(partition, key, value)


def frame_store(settings: TailorSettings) -> BlobStore:
    root = settings.frame_store_uri or (settings.data_dir / "frames").resolve().as_uri()
    return BlobStore(root, settings.allowed_uri_schemes, settings.allowed_roots)


def anchorings(settings: TailorSettings, blobs: BlobStore) -> dict[str, tuple[KeyAdapter[Any], WindowAnchoring]]:
    from agents.anchoring_video import VideoAnchoring

    gui_cfg = GuiPipelineConfig(ocr=settings.ocr_enabled)
    return {
        "raw_robot": (RobotKeys(), RobotAnchoring(blobs, settings, RobotExpertPipeline.default())),
        "raw_gui": (GuiKeys(), GuiAnchoring(blobs, settings, GuiExpertPipeline.default(gui_cfg))),
        "raw_video": (VideoKeys(), VideoAnchoring(blobs, settings, ocr=settings.ocr_enabled)),
    }


def register_anchor_stage(
    app: faust.App,
    settings: TailorSettings,
    blobs: BlobStore,
    dlq: DeadLetterSink,
    metrics: TailorMetrics,
) -> dict[str, list[RecordHandler]]:
    """Create the window-state table, one Windower per raw topic, and the sweep timer."""
    table = app.Table(
        "windows", default=None, partitions=settings.partitions, key_type=bytes, value_type=bytes,
        help="Open windows: one header per key and one entry per buffered item.",
    )
    state = WindowState(table.data, TableChangeLog(table))
    anchors_topic = app.topic(settings.topic_anchors, key_serializer="raw", value_serializer="raw")

    async def send(anchor_set: AnchorSet) -> None:
        await anchors_topic.send(key=anchor_set.window_id.encode(), value=anchor_set.to_bytes())
        metrics.records_out.labels(settings.topic_anchors).inc()

    frames = frame_store(settings)
    windowers: dict[str, Windower] = {}
    for role, (adapter, anchoring) in anchorings(settings, blobs).items():
        emitter = AnchorEmitter(anchoring, frames, send, dlq, metrics, settings.window_extract_timeout_s,
                                settings.max_key_frames, settings.worker_id)
        windowers[role] = Windower(adapter, state, emitter, settings, blobs, metrics)
    started = {"at": 0.0}

    @app.timer(settings.window_sweep_interval_s, name="tailor.window_sweep")
    async def sweep() -> None:
        if app.should_stop or app.producer is None:
            return
        try:
            if not started["at"]:
                # after a (re)start, open windows get a full gap to receive their next items before closing
                started["at"] = time.time()
                for windower in windowers.values():
                    await windower.recover()
            for windower in windowers.values():
                await windower.sweep(active_since=started["at"])
        except NotReady:
            # shutting down or not started: the window keeps its items and closes on the next run
            log.info("window sweep skipped: producer not ready")
        except Exception:  # the timer must never crash the worker
            log.exception("window sweep failed")
            metrics.stage_dropped.labels("window_sweep", "internal_error").inc()
        for role, windower in windowers.items():
            metrics.open_windows.labels(windower.adapter.domain).set(windower.open_windows())

    return {role: [w] for role, w in windowers.items()}
