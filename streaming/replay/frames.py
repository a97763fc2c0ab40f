"""Camera images for robot steps: one sequential decode of an episode video, frames picked by time.

The video is decoded once from the start (no per-frame seeking); each requested time gets the
nearest decoded frame, which must lie within `tolerance_s`, encoded as JPEG. A frame used by several
steps is encoded once.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av

from core.limits_config import LimitsConfig
from streaming.replay.base import ReplayError
from streaming.replay.checks import Deadline


@dataclass(frozen=True)
class JpegFrame:
    data: bytes
    width: int
    height: int
    time_s: float


def jpeg_frames_at(
    path: Path,
    times: Sequence[float],
    *,
    tolerance_s: float,
    quality: int,
    limits: LimitsConfig,
) -> list[JpegFrame]:
    """The frame nearest to each of `times` (seconds on the video's own clock), as JPEG."""
    if not times:
        return []
    order = sorted(range(len(times)), key=lambda i: times[i])
    out: list[JpegFrame | None] = [None] * len(times)
    deadline = Deadline(limits.decode_timeout_s, f"decode {path.name}")
    deadline.tick()
    encoded: dict[int, JpegFrame] = {}
    k = 0
    prev: tuple[float, av.VideoFrame, int] | None = None
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ReplayError("missing_file", f"video {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise ReplayError("empty_file", f"video {path} is empty")
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.video:
                raise ReplayError("no_video_stream", f"{path} has no video stream")
            stream = container.streams.video[0]
            _check_size(stream, path, limits)
            for number, frame in enumerate(container.decode(stream)):
                deadline.tick()
                if frame.time is None:
                    continue
                current = (float(frame.time), frame, number)
                while k < len(order) and times[order[k]] <= current[0]:
                    t = times[order[k]]
                    best = current if prev is None or current[0] - t <= t - prev[0] else prev
                    out[order[k]] = _pick(best, t, tolerance_s, quality, encoded, path)
                    k += 1
                prev = current
                if k == len(order):
                    break
    except av.error.FFmpegError as exc:
        raise ReplayError("corrupt_media", f"{path}: {exc}") from None
    while k < len(order):  # times after the last frame
        if prev is None:
            raise ReplayError("corrupt_media", f"{path}: no decodable frame")
        out[order[k]] = _pick(prev, times[order[k]], tolerance_s, quality, encoded, path)
        k += 1
    return [f for f in out if f is not None]


def _check_size(stream: av.VideoStream, path: Path, limits: LimitsConfig) -> None:
    width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
    if width <= 0 or height <= 0:
        raise ReplayError("corrupt_media", f"{path}: video stream declares no frame size")
    if width * height > min(limits.max_video_pixels, limits.max_image_pixels):
        raise ReplayError("resolution_too_large", f"{path}: {width}x{height} frames exceed the pixel cap")


def _pick(
    chosen: tuple[float, av.VideoFrame, int],
    t: float,
    tolerance_s: float,
    quality: int,
    encoded: dict[int, JpegFrame],
    path: Path,
) -> JpegFrame:
    time_s, frame, number = chosen
    if abs(time_s - t) > tolerance_s:
        raise ReplayError(
            "frame_missing", f"{path}: no frame within {tolerance_s}s of {t:.3f}s (nearest {time_s:.3f}s)"
        )
    if number not in encoded:
        image = frame.to_image()
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=quality)
        encoded[number] = JpegFrame(buf.getvalue(), image.width, image.height, time_s)
    return encoded[number]
