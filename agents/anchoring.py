"""The anchor stage: a closed window → domain experts → an AnchorSet with key frames in the frame store.

Each domain has one `WindowAnchoring` step that turns the window's records into anchors and key-frame
bytes; the `AnchorEmitter` base owns the plumbing (thread offload, timeout, frame store, emission,
dead-lettering a window that cannot be anchored, metrics).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass

from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import Anchor, FrameRef, MediaRef
from core.window import ClosedWindow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyFrame:
    frame_index: int
    timestamp: float
    data: bytes
    media_type: str
    width: int | None = None  # of the stored image, when the expert knows it
    height: int | None = None
    scale: float = 1.0  # stored image pixels per anchor pixel (FrameRef.scale)

    def store(self, frames: BlobStore) -> FrameRef:
        """Put the frame in the frame store; its reference, with the stored size and scale."""
        ref = frames.put(self.data, self.media_type)
        assert ref.uri is not None and ref.sha256 is not None
        return FrameRef(
            frame_index=self.frame_index,
            timestamp=self.timestamp,
            uri=ref.uri,
            sha256=ref.sha256,
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


class WindowAnchoring(ABC):
    """One domain's decision: which anchors and key frames a window has. Runs in a worker thread."""

    def __init__(self, blobs: BlobStore, limits: LimitsConfig) -> None:
        self.blobs = blobs
        self.limits = limits

    @abstractmethod
    def facts(self, window: ClosedWindow) -> WindowFacts:
        """Anchors and key frames of the window; raise ExtractorError / RecordError on bad data."""

    def media(self, ref: MediaRef) -> bytes:
        from agents.extractors.gui.images import media_bytes

        return media_bytes(ref, self.blobs, self.limits)
