"""Cheap, bounded probes of media bytes: container headers, declared sizes, one decoded frame."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import av
from PIL import Image, UnidentifiedImageError

from core.media_formats import MediaTypeError, demuxer_allowed, demuxer_options, image_formats
from core.records.base import RecordError


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    duration_s: float | None
    fps: float | None


def probe_video(
    data: bytes, *, max_pixels: int, max_seconds: float, media_type: str | None = None
) -> VideoInfo:
    """Open a container from bytes, check declared resolution and duration, decode one frame.

    Only the demuxers allowed for `media_type` may open it (any allowed video container for None)."""
    if not data:
        raise RecordError("empty_media", "video segment has no bytes")
    caps = {"max_pixels": str(max_pixels)}
    try:
        with open_video(data, media_type, max_pixels) as container:
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


def open_video(
    source: bytes | str, media_type: str | None, max_pixels: int, options: dict[str, str] | None = None
) -> av.container.InputContainer:
    """An input container over bytes (or a local path), opened only by a demuxer allowed for `media_type`,
    with the pixel cap on the decoders that opening runs to learn the stream's parameters.

    Raises RecordError(unsupported_media_type / unsupported_container / media_type_mismatch) for a refused
    container; other FFmpeg errors (corrupt bytes) propagate for the caller to label."""
    try:
        formats = demuxer_options(media_type, local_file=isinstance(source, str))
    except MediaTypeError as exc:
        raise RecordError(exc.reason, exc.detail) from None
    # Opening decodes a few frames to learn the stream's parameters, at whatever size the headers declare:
    # without a pixel cap on those decoders, a 90 KB H.264 file declaring 16000x16000 allocated about 1 GB
    # before any size check could refuse it.
    opts = {**(options or {}), "max_pixels": str(max_pixels), **formats}
    target = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        container = av.open(target, mode="r", metadata_errors="ignore", options=opts)
    except av.error.ArgumentError:  # FFmpeg's answer to a demuxer outside format_whitelist
        raise _container_refused(target, media_type, opts) from None
    if not demuxer_allowed(container.format.name, media_type):
        container.close()
        raise RecordError("unsupported_container", f"{container.format.name} is not a {media_type} container")
    return container


def _container_refused(
    target: io.BytesIO | str, media_type: str | None, options: dict[str, str]
) -> RecordError:
    """media_type_mismatch when another allowed demuxer takes the bytes (an mkv declared video/mp4), else
    unsupported_container (an ffconcat script, a playlist, an image sequence)."""
    if media_type is not None:
        try:
            retry = {**options, **demuxer_options(None)}  # the same caps on the decoders of the probe
            if isinstance(target, io.BytesIO):
                target.seek(0)
            with av.open(target, mode="r", metadata_errors="ignore", options=retry) as other:
                return RecordError(
                    "media_type_mismatch", f"declared {media_type}, the bytes are {other.format.name}"
                )
        except (av.error.FFmpegError, ValueError, OSError, EOFError):
            pass
    allowed = options["format_whitelist"]
    return RecordError("unsupported_container", f"not a {media_type or 'video'} container ({allowed})")


def open_image(data: bytes, media_type: str | None) -> Image.Image:
    """A lazily decoded Pillow image (header read), opened only by the plug-ins allowed for `media_type`.

    Raises RecordError: unsupported_media_type (a type outside the allow-list), media_type_mismatch (another
    allowed format: a PNG declared image/jpeg), corrupt_media (no allowed plug-in recognises the bytes)."""
    try:
        formats = image_formats(media_type)
    except MediaTypeError as exc:
        raise RecordError(exc.reason, exc.detail) from None
    try:
        return Image.open(io.BytesIO(data), formats=formats)
    except UnidentifiedImageError:
        pass
    if media_type is not None:
        try:
            with Image.open(io.BytesIO(data), formats=image_formats(None)) as other:
                raise RecordError(
                    "media_type_mismatch", f"declared {media_type}, the bytes are {other.format}"
                )
        except UnidentifiedImageError:
            pass
    raise RecordError("corrupt_media", f"not a {'/'.join(formats)} image")


def probe_image(data: bytes, *, max_pixels: int, media_type: str | None = None) -> tuple[int, int]:
    """Check an image's declared size against the cap before decoding it, then decode it.

    Only Pillow's plug-ins for `media_type` may open it (any allowed image format for None)."""
    if not data:
        raise RecordError("empty_media", "image has no bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_image(data, media_type) as img:
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
