"""Re-encoding a video whose key frames are too sparse to cut it into segments of the asked length.

A stream copy can only cut at key frames, so a recording with one key frame every 25 s gives 25 s
segments, and a 10 s video window becomes a 25-50 s one (seen on real recordings). When the longest
stretch without a key frame is over `ReplaySourceConfig.max_gop_s`, the whole file is decoded and each
`segment_s` of frames is encoded on its own (H.264 by libx264, CRF 18, one Matroska container per
segment, so each starts with an IDR frame and decodes alone). The whole file, not only the long
stretches: a window joins its segments into one stream, so they must share one codec.

Costs: an encode pass (about real time for 1080p on one core with `veryfast`), and generation loss at
CRF 18 (visually lossless; anchors come from luma statistics and OCR, which it does not change in a
way the tests could see).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av

from streaming.replay.base import ReplayError
from streaming.replay.checks import Deadline

CODEC = "h264"
MEDIA_TYPE = "video/x-matroska"
ENCODER_OPTIONS = {"crf": "18", "preset": "veryfast"}


@dataclass(frozen=True)
class EncodedSegment:
    start_s: float  # seconds since the first decoded frame of the file
    duration_s: float
    data: bytes
    width: int
    height: int


class _Chunk:
    """One segment being encoded: its own container and encoder, frames rebased to start at 0."""

    def __init__(self, start_pts: int, tb: Fraction, rate: Fraction, width: int, height: int) -> None:
        self.start_pts = start_pts
        self.buf = io.BytesIO()
        self.out = av.open(self.buf, mode="w", format="matroska")
        self.stream = self.out.add_stream("libx264", rate=rate, options=dict(ENCODER_OPTIONS))
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = tb
        self.width, self.height = width, height
        self.end_pts = start_pts

    def add(self, frame: av.VideoFrame, pts: int, duration: int) -> None:
        frame = frame.reformat(width=self.width, height=self.height, format="yuv420p")
        frame.pts = pts - self.start_pts
        frame.time_base = self.stream.codec_context.time_base
        for packet in self.stream.encode(frame):
            self.out.mux(packet)
        self.end_pts = max(self.end_pts, pts + duration)

    def close(self) -> bytes:
        for packet in self.stream.encode(None):
            self.out.mux(packet)
        self.out.close()
        return self.buf.getvalue()


def reencode(
    container: av.container.InputContainer, segment_s: float, deadline: Deadline, name: str
) -> Iterator[EncodedSegment]:
    """The container's first video stream, decoded and encoded again in segments of `segment_s`."""
    stream = container.streams.video[0]
    tb = stream.time_base or Fraction(1, 90000)
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    frame_ticks = max(1, round(1 / (rate * tb)))
    chunk: _Chunk | None = None
    origin: int | None = None
    last_pts = -1
    try:
        for frame in container.decode(stream):
            deadline.tick()
            if frame.pts is None or frame.pts <= last_pts:  # no time, or out of order: not placeable
                continue
            last_pts = frame.pts
            origin = frame.pts if origin is None else origin
            # H.264 in 4:2:0 needs even sides; one odd row or column is dropped
            width, height = frame.width - frame.width % 2, frame.height - frame.height % 2
            if chunk is not None and (frame.pts - chunk.start_pts) * tb >= segment_s:
                yield _done(chunk, origin, tb)
                chunk = None
            if chunk is None:
                chunk = _Chunk(frame.pts, tb, rate, width, height)
            chunk.add(frame, frame.pts, frame_ticks)
    except av.error.FFmpegError as exc:
        raise ReplayError("corrupt_media", f"{name}: re-encoding: {exc}") from None
    if chunk is None or origin is None:
        raise ReplayError("corrupt_media", f"{name}: no decodable video frame")
    yield _done(chunk, origin, tb)


def _done(chunk: _Chunk, origin: int, tb: Fraction) -> EncodedSegment:
    return EncodedSegment(
        start_s=float((chunk.start_pts - origin) * tb),
        duration_s=float((chunk.end_pts - chunk.start_pts) * tb),
        data=chunk.close(),
        width=chunk.width,
        height=chunk.height,
    )
