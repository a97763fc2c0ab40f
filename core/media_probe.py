"""Cheap, bounded probes of media bytes: container headers, declared sizes, one decoded frame."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import av
from PIL import Image

from core.records.base import RecordError


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    duration_s: float | None
    fps: float | None


def probe_video(data: bytes, *, max_pixels: int, max_seconds: float) -> VideoInfo:
    """Open a container from bytes, check declared resolution and duration, decode one frame."""
    if not data:
        raise RecordError("empty_media", "video segment has no bytes")
    # Opening decodes a few frames to learn the stream's parameters, at whatever size the headers declare:
    # without a pixel cap on those decoders, a 90 KB H.264 file declaring 16000x16000 allocated about 1 GB
    # before the check below could refuse it.
    caps = {"max_pixels": str(max_pixels)}
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore", options=caps) as container:
            if not container.streams.video:
                raise RecordError("no_video_stream", "container has no video stream")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            if ctx is None:  # PyAV gives no codec context when no decoder exists for the stream's codec
                raise RecordError("unsupported_codec", "no decoder for the video stream's codec")
            ctx.options = (
                caps  # and the same cap on the decoder of the one frame (in-band headers may change)
            )
            width, height = int(ctx.width or 0), int(ctx.height or 0)
            if width <= 0 or height <= 0:
                raise RecordError("corrupt_media", "video stream declares no frame size")
            if width * height > max_pixels:
                raise RecordError("resolution_too_large", f"{width}x{height} > cap of {max_pixels} pixels")
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            if duration is not None and duration > max_seconds:
                raise RecordError("duration_too_long", f"{duration:.1f}s > cap of {max_seconds}s")
            fps = float(stream.average_rate) if stream.average_rate else None
            codec = ctx.name
            for _frame in container.decode(stream):
                break
            else:
                raise RecordError("corrupt_media", "no decodable frame")
            return VideoInfo(codec=codec, width=width, height=height, duration_s=duration, fps=fps)
    except RecordError:
        raise
    except av.error.InvalidDataError as exc:
        raise RecordError("corrupt_media", f"invalid data: {exc}") from None
    except av.error.DecoderNotFoundError as exc:
        raise RecordError("unsupported_codec", str(exc)) from None
    except (av.error.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise RecordError("corrupt_media", f"{type(exc).__name__}: {exc}") from None


def probe_image(data: bytes, *, max_pixels: int) -> tuple[int, int]:
    """Check an image's declared size against the cap before decoding it, then decode it."""
    if not data:
        raise RecordError("empty_media", "image has no bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise RecordError(
                        "resolution_too_large", f"{width}x{height} > cap of {max_pixels} pixels"
                    )
                img.load()
                return int(width), int(height)
    except RecordError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RecordError("resolution_too_large", str(exc)) from None
    except Exception as exc:  # Pillow raises many types for bad bytes
        raise RecordError("corrupt_media", f"image: {type(exc).__name__}: {exc}") from None
