"""The anchor stage's plumbing around one domain's `WindowAnchoring`: thread offload, timeout, frame store,
emission, metrics; a window that cannot be anchored goes down the failure path every stage shares."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from agents.anchoring import WindowAnchoring, store_key_frames
from agents.extractors.base import ExtractorError, budget_overruns
from core.blobstore import BlobStore
from core.dlq import SourcePosition
from core.metrics import TailorMetrics
from core.records import AnchorSet, SourceSpan
from core.window import ClosedWindow
from streaming.stage import DeadLetterSink, Source, Stage
from streaming.windows import WindowCloser

SendAnchors = Callable[[AnchorSet], Awaitable[None]]


class AnchorEmitter(WindowCloser, Stage):
    refusals = (ExtractorError,)  # bad data an expert found in the window (RecordError is one anyway)
    timeout_reason = "extract_timeout"

    def __init__(
        self,
        anchoring: WindowAnchoring,
        frames: BlobStore,
        send: SendAnchors,
        dlq: DeadLetterSink,
        metrics: TailorMetrics,
        timeout_s: float,
        max_key_frames: int,
        worker_id: str,
    ) -> None:
        # a window's letter carries its id, not its records (they are on the raw topic at its offsets)
        super().__init__(metrics, dlq, worker_id, payload_cap=1024, timeout_s=timeout_s)
        self.anchoring = anchoring
        self.frames = frames
        self.send = send
        self.max_key_frames = max_key_frames

    @property
    def name(self) -> str:
        return "anchors"  # each window is labelled with its domain: anchors_robot, anchors_gui, anchors_video

    async def close(self, window: ClosedWindow) -> None:
        stage = f"{self.name}_{window.domain}"
        self.metrics.stage_in.labels(stage).inc()
        started = time.perf_counter()
        source = Source(
            SourcePosition(window.topic, window.partition, window.first_offset),
            window.key.encode(),
            window.window_id.encode(),
        )
        work = asyncio.wait_for(asyncio.to_thread(self.build, window), timeout=self.timeout_s)
        anchor_set = await self.guarded(work, source, stage=stage, about=f"window {window.window_id}")
        if anchor_set is None:
            return
        await self.send(anchor_set)
        self.metrics.stage_out.labels(stage).inc()
        self.metrics.processing_seconds.labels(stage).observe(time.perf_counter() - started)
        self.log.info(
            "window %s: %d anchors, %d key frames (%s)",
            window.window_id,
            len(anchor_set.anchors),
            len(anchor_set.key_frames),
            window.reason,
            extra={"topic": window.topic, "partition": window.partition, "offset": window.first_offset},
        )

    def build(self, window: ClosedWindow) -> AnchorSet:
        with budget_overruns() as overruns:  # this thread runs the whole window's experts
            facts = self.anchoring.facts(window)
        for expert in overruns:
            self.metrics.extraction_overruns.labels(expert).inc()
        refs = store_key_frames(facts, self.frames, self.max_key_frames)
        recording, licence = window.provenance()
        return AnchorSet(
            window_id=window.window_id,
            domain=window.domain,  # type: ignore[arg-type]
            key=window.key,
            span=SourceSpan(
                topic=window.topic,
                partition=window.partition,
                first_offset=window.first_offset,
                last_offset=window.last_offset,
                start_time=facts.start_time,
                end_time=facts.end_time,
            ),
            num_frames=facts.num_frames,
            key_frames=refs,
            anchors=facts.anchors,
            instruction=facts.instruction,
            recording=recording,
            licence=licence,
            created_at=time.time(),
        )
