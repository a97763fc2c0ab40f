"""Bounded decoding of one video item into a `VideoWindow`.

Hot path per frame: the Y plane is read in place (`frame.planes[0]`, minding `line_size`) and
subsampled by slicing; nothing is converted to RGB. Guards: declared and decoded frame size,
declared duration, frames past duration x fps x slack, a wall-clock timeout checked every frame,
and a cap on packets that fail to decode. Each raises `VideoDecodeError` with a reason label.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import av
import numpy as np

from agents.extractors.video.decode_config import DecodeConfig
from agents.extractors.video.media import (
    VideoDecodeError,
    configure_stream,
    open_container,
    stream_duration,
    stream_fps,
    video_stream,
)
from agents.extractors.video.window import FrameSource, VideoWindow

log = logging.getLogger(__name__)


def luma_plane(frame: av.VideoFrame) -> np.ndarray:
    """The frame's luma as an (H x W) 8-bit view or array, without an RGB conversion when possible."""
    fmt = frame.format
    name = fmt.name
    if name.startswith(("yuv", "yuvj", "nv", "gray")) and not name.startswith("gray16"):
        plane = frame.planes[0]
        bits = fmt.components[0].bits
        if bits <= 8:
            rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
            return rows[: frame.height, : frame.width]
        rows16 = np.frombuffer(memoryview(plane), "<u2").reshape(-1, plane.line_size // 2)[
            : frame.height, : frame.width
        ]
        return (rows16 >> (bits - 8)).astype(np.uint8)
    return frame.to_ndarray(format="gray")


class _Collector:
    """Accumulates analysis frames into a growing (N, h, w) buffer and keeps a few full frames."""

    def __init__(
        self, config: DecodeConfig, width: int, height: int, capacity: int, retain_every: int
    ) -> None:
        self.config = config
        self.width = width
        self.height = height
        self.capacity = capacity
        self.retain_every = retain_every

    def start(self, periodic_slots: int, key_slots: int) -> None:
        self.stride = max(1, math.ceil(self.width / self.config.analysis_width))
        self.shape = (math.ceil(self.height / self.stride), math.ceil(self.width / self.stride))
        self.luma = np.empty((self.capacity, *self.shape), np.uint8)
        self.times = np.empty(self.capacity, np.float64)
        self.pts = np.empty(self.capacity, np.int64)
        self.keys = np.empty(self.capacity, np.bool_)
        self.retained: dict[int, av.VideoFrame] = {}
        self.periodic_slots = periodic_slots
        self.key_slots = key_slots
        self.count = 0

    def add(self, frame: av.VideoFrame, when: float) -> None:
        n = self.count
        if n == self.capacity:
            self._grow()
        luma = luma_plane(frame)
        s = self.stride
        if luma.shape == (self.height, self.width):
            self.luma[n] = luma[::s, ::s]
        else:  # resolution changed mid-stream: nearest-neighbour onto the first frame's grid
            rows = np.linspace(0, luma.shape[0] - 1, self.shape[0]).astype(np.intp)
            cols = np.linspace(0, luma.shape[1] - 1, self.shape[1]).astype(np.intp)
            self.luma[n] = luma[np.ix_(rows, cols)]
        self.times[n] = when
        self.pts[n] = -1 if frame.pts is None else frame.pts
        key = bool(frame.key_frame)
        self.keys[n] = key
        if n % self.retain_every == 0 and self.periodic_slots > 0:
            self.periodic_slots -= 1
            self.retained[n] = frame
        elif key and self.key_slots > 0:
            self.key_slots -= 1
            self.retained[n] = frame
        self.count = n + 1

    def _grow(self) -> None:
        self.capacity *= 2
        self.luma = np.concatenate([self.luma, np.empty_like(self.luma)])
        self.times = np.concatenate([self.times, np.empty_like(self.times)])
        self.pts = np.concatenate([self.pts, np.empty_like(self.pts)])
        self.keys = np.concatenate([self.keys, np.empty_like(self.keys)])


class VideoDecoder:
    """Decodes a file or container bytes into a VideoWindow under the configured limits."""

    def __init__(self, config: DecodeConfig) -> None:
        self.config = config

    def decode(
        self,
        source: Path | bytes,
        time_offset: float = 0.0,
        declared_duration: float | None = None,
        media_type: str | None = None,
    ) -> VideoWindow:
        """Decode `source`; timestamps are `time_offset` + seconds since the first frame.

        `declared_duration` (e.g. a VideoSegment's duration_s) overrides the container's header for
        the duration and frame-count guards; `media_type` (the record's) picks the demuxers allowed to
        open it (any allowed video container for None).
        """
        started = time.perf_counter()
        container = open_container(source, media_type, self.config.max_pixels)
        try:
            stream = video_stream(container)
            window = self._decode(container, stream, source, time_offset, declared_duration, started)
            window.frames_source.media_type = media_type  # a re-decode opens it under the same allow-list
        except av.error.FFmpegError as exc:
            raise VideoDecodeError("corrupt_media", f"{type(exc).__name__}: {exc}") from None
        finally:
            container.close()
        log.debug("decoded %d frames in %.3f s", len(window), time.perf_counter() - started)
        return window

    def _decode(
        self,
        container: Any,
        stream: Any,
        source: Path | bytes,
        time_offset: float,
        declared_duration: float | None,
        started: float,
    ) -> VideoWindow:
        cfg = self.config
        ctx = stream.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        self._check_size(width, height)
        fps = stream_fps(stream)
        duration = declared_duration if declared_duration is not None else stream_duration(container, stream)
        if duration is not None and not (math.isfinite(duration) and duration >= 0):
            raise VideoDecodeError("corrupt_media", f"declared duration {duration!r} is not a finite time")
        if duration is not None and duration > cfg.max_seconds:
            raise VideoDecodeError("too_long", f"declared duration {duration:g} s > {cfg.max_seconds:g} s")
        frame_cap = cfg.max_frames
        if duration is not None and fps is not None:
            frame_cap = min(frame_cap, math.ceil(duration * fps * cfg.frame_slack) + cfg.frame_margin)
        expected = math.ceil(duration * fps) if duration is not None and fps is not None else 256
        configure_stream(stream, cfg)
        collector: _Collector | None = None
        errors = 0
        first_time: float | None = None
        for packet in container.demux(stream):
            if time.perf_counter() - started > cfg.timeout_s:
                raise VideoDecodeError("decode_timeout", f"decoding passed {cfg.timeout_s:g} s")
            try:
                frames = packet.decode()
            except MemoryError:  # no bad packet: the process is out of memory (its decoder pool's limit)
                raise
            except av.error.FFmpegError as exc:
                # a new in-band frame size over the cap fails inside FFmpeg (max_pixels, set on the codec
                # context) before it allocates; the context keeps the size it refused, so say which
                self._check_size(int(ctx.width or 0), int(ctx.height or 0))
                errors += 1
                log.debug("packet failed to decode: %s", exc)
                if errors > cfg.max_decode_errors:
                    raise VideoDecodeError(
                        "corrupt_media", f"{errors} packets failed to decode: {exc}"
                    ) from None
                continue
            for frame in frames:
                if collector is None:
                    collector = self._collector(frame, width, height, min(expected, frame_cap))
                if collector.count >= frame_cap:
                    raise VideoDecodeError(
                        "too_many_frames",
                        f"more than {frame_cap} frames (declared {duration} s at {fps} fps)",
                    )
                if frame.width * frame.height > cfg.max_pixels:
                    self._check_size(frame.width, frame.height)
                t = frame.time
                if t is None:
                    t = collector.count / (fps or 25.0)
                if first_time is None:
                    first_time = t
                collector.add(frame, time_offset + (t - first_time))
        if collector is None or collector.count == 0:
            raise VideoDecodeError("empty_media", "no frame decoded")
        return self._window(collector, stream, source, fps, duration)

    def _collector(self, frame: av.VideoFrame, width: int, height: int, expected: int) -> _Collector:
        """Buffers sized for the expected frame count; a third of the kept slots go to codec key frames."""
        width, height = frame.width or width, frame.height or height
        self._check_size(width, height)
        frame_bytes = max(1, width * height * 3 // 2)
        retain_cap = min(self.config.retain_max_frames, self.config.retain_max_bytes // frame_bytes)
        key_slots = retain_cap // 3 if self.config.retain_codec_keyframes else 0
        periodic = retain_cap - key_slots
        retain_every = max(1, math.ceil(expected / max(periodic, 1)))
        collector = _Collector(self.config, width, height, max(expected, 1), retain_every)
        collector.start(periodic, key_slots)
        return collector

    def _check_size(self, width: int, height: int) -> None:
        if width < 0 or height < 0 or width * height > self.config.max_pixels:
            raise VideoDecodeError(
                "resolution_too_large", f"{width}x{height} is over the cap of {self.config.max_pixels} pixels"
            )

    def _window(
        self, c: _Collector, stream: Any, source: Path | bytes, fps: float | None, duration: float | None
    ) -> VideoWindow:
        n = c.count
        times = c.times[:n].copy()
        if fps is None or not math.isfinite(fps):
            steps = np.diff(times)
            fps = 1.0 / float(np.median(steps)) if len(steps) and np.median(steps) > 0 else 25.0
        if self.config.keyframes_only:
            indices = np.rint((times - times[0]) * fps).astype(np.int64)
            indices = np.maximum.accumulate(indices)
        else:
            indices = np.arange(n, dtype=np.int64)
            self._check_coverage(times, fps, duration)
        source_frames = FrameSource(
            source=source,
            config=self.config,
            pts=c.pts[:n].copy(),
            key_flags=c.keys[:n].copy(),
            retained=c.retained,
        )
        return VideoWindow(
            luma=c.luma[:n],
            indices=indices,
            timestamps=times,
            fps=fps,
            width=c.width,
            height=c.height,
            stride=c.stride,
            codec=stream.codec_context.name,
            frames_source=source_frames,
        )

    def _check_coverage(self, times: np.ndarray, fps: float, duration: float | None) -> None:
        if duration is None or duration <= 0:
            return
        covered = float(times[-1] - times[0]) + 1.0 / fps
        if covered < self.config.min_coverage * duration:
            raise VideoDecodeError(
                "corrupt_media", f"truncated: frames cover {covered:.2f} s of the declared {duration:.2f} s"
            )
