"""The video expert pipeline: decode once, run the experts in order, encode the key frames.

Output: the anchors of every expert plus the key frames as JPEG/PNG bytes, ready for the
content-addressed frame store (`KeyFrameImage.store(blobs)` gives the record's FrameRef).
"""

from __future__ import annotations

import io
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from agents.extractors.base import ExtractorError
from agents.extractors.plugins import plugin_experts
from agents.extractors.video.decode import VideoDecoder
from agents.extractors.video.expert import VideoExpert
from agents.extractors.video.keyframes import KeyFrameExtractor
from agents.extractors.video.media import VideoDecodeError
from agents.extractors.video.motion import MotionExtractor, StallExtractor
from agents.extractors.video.ocr import OcrExtractor, fit_side
from agents.extractors.video.pipeline_config import VideoPipelineConfig
from agents.extractors.video.scene import SceneCutExtractor
from agents.extractors.video.window import VideoWindow
from core.blobstore import BlobStore, UriPolicyError
from core.records import Anchor, FrameRef, VideoSegment

log = logging.getLogger(__name__)


class FrameEncoder(ABC):
    """Turns one RGB key frame into stored bytes."""

    media_type: str = "application/octet-stream"

    @abstractmethod
    def encode(self, rgb: np.ndarray) -> bytes:
        """The encoded image."""


class JpegEncoder(FrameEncoder):
    media_type = "image/jpeg"

    def __init__(self, quality: int) -> None:
        self.quality = quality

    def encode(self, rgb: np.ndarray) -> bytes:
        out = io.BytesIO()
        Image.fromarray(rgb).save(out, format="JPEG", quality=self.quality)
        return out.getvalue()


class PngEncoder(FrameEncoder):
    media_type = "image/png"

    def encode(self, rgb: np.ndarray) -> bytes:
        out = io.BytesIO()
        Image.fromarray(rgb).save(out, format="PNG", compress_level=1)
        return out.getvalue()


@dataclass(frozen=True)
class KeyFrameImage:
    frame_index: int
    timestamp: float
    data: bytes
    media_type: str
    width: int
    height: int
    scale: float = 1.0  # stored pixels per decoded-frame pixel (the anchors' boxes are in decoded pixels)

    def store(self, blobs: BlobStore) -> FrameRef:
        ref = blobs.put(self.data, self.media_type, width=self.width, height=self.height)
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


@dataclass
class VideoExtraction:
    window: VideoWindow
    anchors: list[Anchor]
    key_frames: list[KeyFrameImage]
    seconds: dict[str, float] = field(default_factory=dict)

    def of_type(self, anchor_type: str) -> list[Anchor]:
        return [a for a in self.anchors if a.type == anchor_type]


class VideoExpertPipeline:
    """Experts run in list order; each sees the anchors of those before it (`window.found`)."""

    def __init__(
        self, steps: list[VideoExpert], encoder: FrameEncoder | None, frame_max_side: int | None
    ) -> None:
        self.steps = steps
        self.encoder = encoder
        self.frame_max_side = frame_max_side

    @classmethod
    def from_config(cls, config: VideoPipelineConfig) -> VideoExpertPipeline:
        """The built-in experts the config asks for, then the installed plug-in experts of the video domain."""
        steps: list[VideoExpert] = [
            SceneCutExtractor(config.scene),
            KeyFrameExtractor(config.key_frames),
            MotionExtractor(config.motion),
            StallExtractor(config.stall),
        ]
        if config.ocr_enabled:
            steps.append(OcrExtractor(config.ocr))
        steps.extend(plugin_video_experts())
        encoder = JpegEncoder(config.jpeg_quality) if config.frame_format == "jpeg" else PngEncoder()
        return cls(steps, encoder, config.frame_max_side)

    def run(self, window: VideoWindow) -> VideoExtraction:
        seconds: dict[str, float] = {}
        anchors: list[Anchor] = []
        for step in self.steps:
            found = step(window)
            window.record(step.name, found)
            anchors.extend(found)
            seconds[step.name] = step.last_seconds
        started = time.perf_counter()
        key_frames = self.encode_key_frames(window) if self.encoder is not None else []
        seconds["encode_key_frames"] = time.perf_counter() - started
        return VideoExtraction(window=window, anchors=anchors, key_frames=key_frames, seconds=seconds)

    def encode_key_frames(self, window: VideoWindow) -> list[KeyFrameImage]:
        return self.encode_frames(window, [a.frame_index for a in window.anchors_of("key_frame")])

    def encode_frames(self, window: VideoWindow, frame_indices: list[int]) -> list[KeyFrameImage]:
        """Images of these frames (each snapped to the analysis frame at or before it), once per frame."""
        if self.encoder is None:
            return []
        positions = [window.position_of(i) for i in frame_indices]
        images = window.rgb(positions)
        out = []
        for position in dict.fromkeys(positions):
            rgb, scale = images[position], 1.0
            if self.frame_max_side is not None:
                rgb, scale = fit_side(rgb, self.frame_max_side)
            out.append(
                KeyFrameImage(
                    frame_index=int(window.indices[position]),
                    timestamp=round(float(window.timestamps[position]), 6),
                    data=self.encoder.encode(rgb),
                    media_type=self.encoder.media_type,
                    width=int(rgb.shape[1]),
                    height=int(rgb.shape[0]),
                    scale=scale,
                )
            )
        return out


BUILTIN_EXPERTS = tuple(
    c.name for c in (SceneCutExtractor, KeyFrameExtractor, MotionExtractor, StallExtractor, OcrExtractor)
)


def plugin_video_experts() -> list[VideoExpert]:
    """New instances of the installed video experts (agents.extractors.plugins), checked to be VideoExperts."""
    return [e for e in plugin_experts("video", BUILTIN_EXPERTS) if isinstance(e, VideoExpert)]


def extract_video(
    source: Path | bytes, config: VideoPipelineConfig, time_offset: float = 0.0
) -> VideoExtraction:
    """Decode a file or container bytes and run the configured experts on it."""
    started = time.perf_counter()
    window = VideoDecoder(config.decode).decode(source, time_offset=time_offset)
    decode_s = time.perf_counter() - started
    result = VideoExpertPipeline.from_config(config).run(window)
    result.seconds["decode"] = decode_s
    return result


def segment_window(
    segment: VideoSegment, decoder: VideoDecoder, blobs: BlobStore | None, max_bytes: int
) -> VideoWindow:
    """Decode a VideoSegment (inline bytes or claim check); timestamps are stream time."""
    media = segment.media
    if media.data is not None:
        data = media.data
    elif blobs is None:
        raise VideoDecodeError("blob_store_missing", f"segment media {media.uri!r} is a claim check")
    else:
        try:
            data = blobs.get(media, max_bytes=max_bytes)
        except UriPolicyError as exc:
            raise VideoDecodeError(exc.reason, exc.detail) from None
    if len(data) > max_bytes:
        raise VideoDecodeError("blob_too_large", f"{len(data)} bytes > cap {max_bytes}")
    declared = segment.duration_s if segment.duration_s > 0 else None
    return decoder.decode(
        data, time_offset=segment.start_time, declared_duration=declared, media_type=media.media_type
    )


__all__ = [
    "ExtractorError",
    "FrameEncoder",
    "JpegEncoder",
    "KeyFrameImage",
    "PngEncoder",
    "VideoExpertPipeline",
    "VideoExtraction",
    "extract_video",
    "segment_window",
]
