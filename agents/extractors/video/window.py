"""A decoded window of video: small luma analysis frames for the experts, full RGB on demand.

The experts read `luma` (N x h x w uint8, the Y plane subsampled by `stride`), `timestamps` and
the findings of the experts that ran before them. Full-resolution RGB exists only for the frames
someone asks for (`rgb`): taken from the few frames the decoder kept, else re-decoded by seeking
to the codec key frame before each one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from agents.extractors.video.decode_config import DecodeConfig
from agents.extractors.video.media import VideoDecodeError, configure_stream, open_container, video_stream
from core.records import Anchor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysisFrame:
    index: int
    timestamp: float
    luma: np.ndarray


@dataclass(eq=False)
class FrameSource:
    """Where full-resolution frames come from: kept decoder frames, else a seek + re-decode."""

    source: Path | bytes
    config: DecodeConfig
    pts: np.ndarray
    key_flags: np.ndarray
    retained: dict[int, av.VideoFrame]
    cache: dict[int, np.ndarray] = field(default_factory=dict)
    media_type: str | None = None  # the declared type: the same demuxer allow-list on a re-decode

    def rgb(self, positions: list[int]) -> dict[int, np.ndarray]:
        wanted = sorted({p for p in positions if p not in self.cache})
        for pos in [p for p in wanted if p in self.retained]:
            self.cache[pos] = self.retained[pos].to_ndarray(format="rgb24")
        missing = [p for p in wanted if p not in self.cache]
        if missing:
            self.cache.update(self._redecode(missing))
        return {p: self.cache[p] for p in positions}

    def _redecode(self, positions: list[int]) -> dict[int, np.ndarray]:
        """Seek to the codec key frame before each group of targets and decode forward, matching pts.

        Without usable pts (negative or repeated), decode from the start and count frames instead.
        """
        started = time.perf_counter()
        pts = [int(self.pts[p]) for p in positions]
        by_pts = min(pts) >= 0 and len(set(pts)) == len(pts)
        found: dict[int, np.ndarray] = {}
        container = open_container(self.source, self.media_type, self.config.max_pixels)
        try:
            stream = video_stream(container)
            configure_stream(stream, self.config)
            if by_pts:
                for key_pos, targets in sorted(self._groups(positions).items()):
                    container.seek(int(self.pts[key_pos]), stream=stream, backward=True, any_frame=False)
                    found.update(self._decode_by_pts(container, stream, targets, started))
            else:
                found.update(self._decode_by_count(container, stream, positions, started))
        except av.error.FFmpegError as exc:  # a seek or demux on bytes the first decode read past
            raise VideoDecodeError("corrupt_media", f"re-decode: {type(exc).__name__}: {exc}") from None
        finally:
            container.close()
        lost = [p for p in positions if p not in found]
        if lost:
            raise VideoDecodeError("corrupt_media", f"frames {lost[:5]} not found again on re-decode")
        return found

    def _groups(self, positions: list[int]) -> dict[int, list[int]]:
        """Targets grouped by the position of the codec key frame at or before them."""
        keys = np.flatnonzero(self.key_flags)
        groups: dict[int, list[int]] = {}
        for pos in positions:
            before = keys[keys <= pos]
            groups.setdefault(int(before[-1]) if len(before) else 0, []).append(pos)
        return groups

    def _decode_by_pts(
        self, container: Any, stream: Any, targets: list[int], started: float
    ) -> dict[int, np.ndarray]:
        wanted = {int(self.pts[p]): p for p in targets}
        last = max(wanted)
        found: dict[int, np.ndarray] = {}
        for seen, frame in enumerate(self._frames(container, stream)):
            self._check_frame(frame, seen, started)
            if frame.pts in wanted:
                found[wanted[frame.pts]] = frame.to_ndarray(format="rgb24")
            if len(found) == len(wanted) or (frame.pts is not None and frame.pts > last):
                break
        return found

    def _decode_by_count(
        self, container: Any, stream: Any, targets: list[int], started: float
    ) -> dict[int, np.ndarray]:
        wanted = set(targets)
        found: dict[int, np.ndarray] = {}
        for position, frame in enumerate(self._frames(container, stream)):
            self._check_frame(frame, position, started)
            if position in wanted:
                found[position] = frame.to_ndarray(format="rgb24")
                if len(found) == len(wanted):
                    break
        return found

    def _frames(self, container: Any, stream: Any) -> Iterator[av.VideoFrame]:
        """Decoded frames, skipping packets that fail as the first decode did (up to the same count):
        a damaged packet the first decode stepped over must not stop the re-decode before its frames."""
        errors = 0
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except MemoryError:
                raise
            except av.error.FFmpegError as exc:
                errors += 1
                if errors > self.config.max_decode_errors:
                    raise VideoDecodeError(
                        "corrupt_media", f"{errors} packets failed to re-decode: {exc}"
                    ) from None
                continue
            yield from frames

    def _check_frame(self, frame: av.VideoFrame, seen: int, started: float) -> None:
        """The first decode's guards, before a frame is converted: a re-decode reads the same bytes, so it
        never needs more frames than that decode counted, nor a larger frame than the cap."""
        if time.perf_counter() - started > self.config.timeout_s:
            raise VideoDecodeError("decode_timeout", f"re-decode passed {self.config.timeout_s:g} s")
        if seen >= len(self.pts) + self.config.frame_margin:
            raise VideoDecodeError("too_many_frames", f"re-decode passed the {len(self.pts)} frames decoded")
        if frame.width * frame.height > self.config.max_pixels:
            raise VideoDecodeError(
                "resolution_too_large",
                f"{frame.width}x{frame.height} is over {self.config.max_pixels} pixels",
            )


@dataclass(eq=False)
class VideoWindow:
    """Analysis frames of one item plus the findings of the experts that ran on it."""

    luma: np.ndarray
    indices: np.ndarray
    timestamps: np.ndarray
    fps: float
    width: int
    height: int
    stride: int
    codec: str
    frames_source: FrameSource
    found: list[Anchor] = field(default_factory=list)
    completed: set[str] = field(default_factory=set)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.luma.shape[0])

    @property
    def frames(self) -> list[AnalysisFrame]:
        return [
            AnalysisFrame(int(self.indices[p]), float(self.timestamps[p]), self.luma[p])
            for p in range(len(self))
        ]

    @property
    def duration(self) -> float:
        if len(self) == 0:
            return 0.0
        return float(self.timestamps[-1] - self.timestamps[0]) + 1.0 / self.fps

    @property
    def retained_positions(self) -> set[int]:
        return set(self.frames_source.retained)

    def position_of(self, frame_index: int) -> int:
        """Position in the window of a frame index (exact, or the last frame before it)."""
        pos = int(np.searchsorted(self.indices, frame_index, side="right")) - 1
        return max(pos, 0)

    def rgb(self, positions: list[int]) -> dict[int, np.ndarray]:
        """Full-resolution RGB (H x W x 3 uint8) of the frames at these positions."""
        return self.frames_source.rgb(positions)

    def record(self, expert: str, anchors: list[Anchor]) -> None:
        self.found.extend(anchors)
        self.completed.add(expert)

    def anchors_of(self, anchor_type: str) -> list[Anchor]:
        return [a for a in self.found if a.type == anchor_type]

    def cut_positions(self) -> list[int]:
        """Positions where a new shot starts, from the scene_cut anchors found so far."""
        return sorted({self.position_of(a.frame_index) for a in self.anchors_of("scene_cut")} - {0})

    def segments(self) -> list[tuple[int, int]]:
        """(first, last) positions, inclusive, of the shots between scene cuts."""
        if len(self) == 0:
            return []
        starts = [0, *self.cut_positions()]
        ends = [s - 1 for s in starts[1:]] + [len(self) - 1]
        return list(zip(starts, ends, strict=True))
