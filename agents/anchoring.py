"""The anchor stage: a closed window → domain experts → an AnchorSet with key frames in the frame store.

Each domain has one `WindowAnchoring` step that turns the window's records into anchors and key-frame
bytes; the `AnchorEmitter` base owns the plumbing (thread offload, timeout, frame store, emission,
dead-lettering a window that cannot be anchored, metrics).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import Anchor, AnchorSet, FrameRef, MediaRef, SourceSpan
from core.window import ClosedWindow

if TYPE_CHECKING:
    from agents.tasks.world_model_sample_config import WorldModelSampleConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyFrame:
    frame_index: int
    timestamp: float
    data: bytes
    media_type: str
    role: str = "key_frame"  # "cited": stored because a family's example cites it (FrameRef.role)
    width: int | None = None  # of the stored image, when the expert knows it
    height: int | None = None
    scale: float = 1.0  # stored image pixels per anchor pixel (FrameRef.scale)

    def store(self, frames: BlobStore) -> FrameRef:
        """Put the frame in the frame store; its reference, with its role, stored size and scale."""
        ref = frames.put(self.data, self.media_type)
        assert ref.uri is not None and ref.sha256 is not None
        return FrameRef(
            frame_index=self.frame_index,
            timestamp=self.timestamp,
            uri=ref.uri,
            sha256=ref.sha256,
            role=self.role,  # type: ignore[arg-type]
            width=self.width,
            height=self.height,
            scale=self.scale,
        )


@dataclass(frozen=True)
class WindowFacts:
    anchors: list[Anchor]
    key_frames: list[KeyFrame]
    num_frames: int
    start_time: float
    end_time: float
    instruction: str | None


def store_key_frames(facts: WindowFacts, frames: BlobStore, cap: int) -> list[FrameRef]:
    """The window's first `cap` key frames put in the frame store, in frame order. The steps list the frames a
    family's example will cite first, so the cap keeps those."""
    return [kf.store(frames) for kf in sorted(facts.key_frames[:cap], key=lambda k: k.frame_index)]


class WindowAnchoring(ABC):
    """One domain's decision: which anchors and key frames a window has. Runs in a worker thread."""

    def __init__(self, blobs: BlobStore, limits: LimitsConfig) -> None:
        self.blobs = blobs
        self.limits = limits
        self.world_model: WorldModelSampleConfig | None = None  # the family's settings (None: defaults)

    @abstractmethod
    def facts(self, window: ClosedWindow) -> WindowFacts:
        """Anchors and key frames of the window; raise ExtractorError / RecordError on bad data."""

    def cited_frames(
        self, domain: str, anchors: list[Anchor], num_frames: int, start: float, end: float, instr: str | None
    ) -> list[int]:
        """Frames a world-model sample of this window will cite. They are stored as key frames (first, so the
        per-window cap keeps them), because a row that cites frames must carry their images."""
        from agents.tasks.world_model_sample import WorldModelSample

        if domain not in WorldModelSample.domains or num_frames == 0:
            return []
        provisional = AnchorSet(
            window_id="provisional",
            domain=domain,  # type: ignore[arg-type]
            key="provisional",
            span=SourceSpan(
                topic="provisional",
                partition=0,
                first_offset=0,
                last_offset=0,
                start_time=start,
                end_time=end,
            ),
            num_frames=num_frames,
            anchors=anchors,
            instruction=instr,
            created_at=0.0,
        )
        return WorldModelSample(self.world_model).frames_to_store(provisional)

    def media(self, ref: MediaRef) -> bytes:
        from agents.extractors.gui.images import media_bytes

        return media_bytes(ref, self.blobs, self.limits)
