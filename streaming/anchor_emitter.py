"""The anchor stage's plumbing around one domain's `WindowAnchoring`: thread offload, timeout, frame store,
emission, metrics; a window that cannot be anchored goes down the failure path every stage shares.

With a pool (agents/anchoring_pool.py) the window's media are decoded and its experts run in a decoder
process, which the pool kills at the timeout; a window that killed its decoder is remembered in the
ledger (streaming/decode_ledger.py) and dead-lettered, then and after any restart, as poison."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from agents.anchoring import WindowAnchoring, WindowFacts, store_key_frames
from agents.anchoring_pool import HAND_OVER_S, AnchoringPool, DecoderKilled
from agents.extractors.base import ExtractorError, budget_overruns
from core.blobstore import BlobStore
from core.dlq import SourcePosition
from core.metrics import TailorMetrics
from core.records import AnchorSet, SourceSpan
from core.window import ClosedWindow
from streaming.decode_ledger import POISON, DecodeLedger
from streaming.executors import in_stage
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
        pool: AnchoringPool | None = None,
        ledger: DecodeLedger | None = None,
    ) -> None:
        # a window's letter carries its id, not its records (they are on the raw topic at its offsets)
        super().__init__(metrics, dlq, worker_id, payload_cap=1024, timeout_s=timeout_s)
        self.anchoring = anchoring
        self.frames = frames
        self.send = send
        self.max_key_frames = max_key_frames
        self.extract_timeout_s = timeout_s
        self.pool = pool
        self.ledger = ledger

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
        anchor_set = await self._anchor(window, source, stage)
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

    async def _anchor(self, window: ClosedWindow, source: Source, stage: str) -> AnchorSet | None:
        """The window's AnchorSet, or None once it went down the failure path."""
        about = f"window {window.window_id}"
        if self.ledger is not None:
            refused = self.ledger.begin(window)
            if refused is not None:
                await self.fail(POISON, f"{about}: {refused}", source, stage=stage)
                return None
        # the pool kills its process at timeout_s (after up to HAND_OVER_S for a fresh one to start and take
        # the window); this wait is only a backstop past that
        limit = self.extract_timeout_s + (HAND_OVER_S + 5.0 if self.pool is not None else 0.0)
        try:
            anchor_set = await asyncio.wait_for(in_stage("anchors", self.build, window), timeout=limit)
        except DecoderKilled as exc:
            if self.ledger is not None:
                self.ledger.killed(
                    window, exc.reason
                )  # before the letter: a restart must not decode it again
            await self.failed(exc, source, stage=stage, about=about)
            return None
        except Exception as exc:
            if self.ledger is not None:
                self.ledger.finished(window)
            await self.failed(exc, source, stage=stage, about=about)
            return None
        if self.ledger is not None:
            self.ledger.finished(window)
        return anchor_set

    def _facts(self, window: ClosedWindow) -> tuple[WindowFacts, list[str]]:
        if self.pool is not None:
            return self.pool.facts(window, self.extract_timeout_s)
        with budget_overruns() as overruns:  # this thread runs the whole window's experts
            facts = self.anchoring.facts(window)
        return facts, overruns

    def build(self, window: ClosedWindow) -> AnchorSet:
        facts, overruns = self._facts(window)
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
