"""The anchor stage's plumbing around one domain's `WindowAnchoring`: thread offload, timeout, frame store,
emission, dead-lettering a window that cannot be anchored, metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from agents.anchoring import WindowAnchoring
from agents.extractors.base import ExtractorError
from core.blobstore import BlobStore
from core.dlq import SourcePosition, dead_letter
from core.metrics import TailorMetrics
from core.records import AnchorSet, FrameRef, RecordError, SourceSpan
from core.window import ClosedWindow
from streaming.ingest import DeadLetterSink
from streaming.windows import WindowCloser


log = logging.getLogger(__name__)

SendAnchors = Callable[[AnchorSet], Awaitable[None]]


class AnchorEmitter(WindowCloser):
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
        self.anchoring = anchoring
        self.frames = frames
        self.send = send
        self.dlq = dlq
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.max_key_frames = max_key_frames
        self.worker_id = worker_id

    async def close(self, window: ClosedWindow) -> None:
        stage = f"anchors_{window.domain}"
        self.metrics.stage_in.labels(stage).inc()
        started = time.perf_counter()
        try:
            anchor_set = await asyncio.wait_for(asyncio.to_thread(self.build, window), timeout=self.timeout_s)
        except (ExtractorError, RecordError) as exc:
            await self._fail(window, stage, exc.reason, exc.detail)
            return
        except TimeoutError:
            await self._fail(window, stage, "extract_timeout", f"over {self.timeout_s}s")
            return
        except Exception as exc:  # an expert's bug costs one window, not the worker
            log.exception("anchoring %s failed", window.window_id)
            await self._fail(window, stage, "internal_error", f"{type(exc).__name__}: {exc}")
            return
        await self.send(anchor_set)
        self.metrics.stage_out.labels(stage).inc()
        self.metrics.processing_seconds.labels(stage).observe(time.perf_counter() - started)
        log.info("window %s: %d anchors, %d key frames (%s)", window.window_id, len(anchor_set.anchors),
                 len(anchor_set.key_frames), window.reason,
                 extra={"topic": window.topic, "partition": window.partition, "offset": window.first_offset})

    def build(self, window: ClosedWindow) -> AnchorSet:
        facts = self.anchoring.facts(window)
        refs = []
        for kf in facts.key_frames[: self.max_key_frames]:
            ref = self.frames.put(kf.data, kf.media_type)
            assert ref.uri is not None and ref.sha256 is not None
            refs.append(FrameRef(frame_index=kf.frame_index, timestamp=kf.timestamp, uri=ref.uri, sha256=ref.sha256))
        return AnchorSet(
            window_id=window.window_id,
            domain=window.domain,  # type: ignore[arg-type]
            key=window.key,
            span=SourceSpan(
                topic=window.topic, partition=window.partition, first_offset=window.first_offset,
                last_offset=window.last_offset, start_time=facts.start_time, end_time=facts.end_time,
            ),
            num_frames=facts.num_frames,
            key_frames=refs,
            anchors=facts.anchors,
            instruction=facts.instruction,
            created_at=time.time(),
        )

    async def _fail(self, window: ClosedWindow, stage: str, reason: str, detail: str) -> None:
        log.warning("window %s not anchored: %s: %s", window.window_id, reason, detail,
                    extra={"topic": window.topic, "partition": window.partition, "offset": window.first_offset})
        self.metrics.stage_dropped.labels(stage, reason).inc()
        self.metrics.dead_lettered.labels(window.topic, stage, reason).inc()
        letter = dead_letter(
            reason=reason, detail=f"window {window.window_id}: {detail}", stage=stage,
            source=SourcePosition(window.topic, window.partition, window.first_offset),
            key=window.key.encode(), value=window.window_id.encode(), worker=self.worker_id, payload_cap=1024,
        )
        await self.dlq.send(letter)
