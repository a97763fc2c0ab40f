"""Opening video containers from a path or from bytes, with FFmpeg failures turned into reason labels."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from agents.extractors.base import ExtractorError
from agents.extractors.video.decode_config import DecodeConfig
from core.media_probe import open_video
from core.records.base import RecordError

log = logging.getLogger(__name__)

DECODER_NAME = "video_decode"


class VideoDecodeError(ExtractorError):
    """Media that cannot be decoded safely; `reason` is the DLQ / metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(DECODER_NAME, reason, detail)


def open_container(source: Path | bytes, media_type: str | None = None, max_pixels: int | None = None) -> Any:
    """An input container over a file or in-memory bytes; corrupt or empty input raises VideoDecodeError.

    Only the demuxers allowed for `media_type` open it (`core.media_formats`: no ffconcat script, playlist
    or image sequence that reads other files), and the decoders run while opening are capped at `max_pixels`.
    """
    target: bytes | str
    if isinstance(source, bytes):
        if not source:
            raise VideoDecodeError("empty_media", "zero bytes")
        target = source
    else:
        if not source.is_file():
            raise VideoDecodeError("missing_media", f"{source} is not a file")
        if source.stat().st_size == 0:
            raise VideoDecodeError("empty_media", f"{source} is zero bytes")
        target = str(source)
    try:
        return open_video(target, media_type, max_pixels or DecodeConfig().max_pixels)
    except RecordError as exc:
        raise VideoDecodeError(exc.reason, exc.detail) from None
    except av.error.FFmpegError as exc:
        raise VideoDecodeError("corrupt_media", f"cannot open container: {exc}") from None


def video_stream(container: Any) -> Any:
    """The first video stream, or VideoDecodeError(empty_media / unsupported_codec)."""
    if not container.streams.video:
        raise VideoDecodeError("empty_media", "no video stream in the container")
    stream = container.streams.video[0]
    try:
        ctx = stream.codec_context
    except (av.error.FFmpegError, ValueError) as exc:
        raise VideoDecodeError("unsupported_codec", f"no decoder: {exc}") from None
    if ctx is None or ctx.codec is None:
        raise VideoDecodeError("unsupported_codec", "no decoder for the video stream")
    return stream


def configure_stream(stream: Any, config: DecodeConfig) -> None:
    ctx = stream.codec_context
    # FFmpeg's own cap, checked before it allocates a picture: a frame's size is only seen in Python after
    # the decoder has allocated it (a later in-band SPS of 16000x16000 in a stream that opened as 64x48
    # allocated GBs across the frame threads before the per-frame check could refuse it).
    ctx.options = {**ctx.options, "max_pixels": str(config.max_pixels)}
    ctx.thread_type = config.thread_type
    ctx.thread_count = config.threads
    if config.keyframes_only:
        ctx.skip_frame = "NONKEY"


def stream_fps(stream: Any) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and float(rate) > 0:
            return float(rate)
    return None


def stream_duration(container: Any, stream: Any) -> float | None:
    """Declared duration in seconds (stream header, else container header), or None."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * Fraction(stream.time_base))
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    return None
