"""Which container and image formats each declared media type may be, and the FFmpeg options that hold
the demuxer to them.

FFmpeg picks a demuxer by probing the bytes, and some demuxers open other files: an inline "video" that
was an `ffconcat` script (`file some/local/path.mp4`) passed the ingest probe, and the window decoder
decoded a file relative to the worker's working directory. Playlists (hls, concat) and image sequences
(image2) do the same. So every open names the demuxers allowed for the declared type (FFmpeg refuses any
other one after probing and before it reads a header, let alone a referenced file), and allows no
protocol for nested opens. Pillow gets the same treatment: only the plug-ins of the declared type.
"""

from __future__ import annotations

from core.errors import TailorError

# FFmpeg demuxer names (one demuxer may carry several: "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm").
# What the replay produces (mp4, webm, matroska), plus MPEG-TS and raw H.264 Annex-B from live cameras.
VIDEO_CONTAINERS: dict[str, tuple[str, ...]] = {
    "video/mp4": ("mov", "mp4"),
    "video/quicktime": ("mov", "mp4"),
    "video/webm": ("matroska", "webm"),
    "video/x-matroska": ("matroska", "webm"),
    "video/mp2t": ("mpegts",),
    "video/h264": ("h264",),
}

# Pillow plug-in names (the JPEG plug-in also opens multi-picture JPEGs from phone cameras, as MPO).
IMAGE_FORMATS: dict[str, tuple[str, ...]] = {
    "image/png": ("PNG",),
    "image/jpeg": ("JPEG",),
    "image/webp": ("WEBP",),
    "image/bmp": ("BMP",),
    "image/gif": ("GIF",),
}


class MediaTypeError(TailorError, ValueError):
    """A declared media type outside the allow-list; `reason` is unsupported_media_type."""


def _allowed(table: dict[str, tuple[str, ...]], media_type: str | None, kind: str) -> tuple[str, ...]:
    if media_type is None:  # a caller that knows no type (a local file, a test): any allowed format
        return tuple(dict.fromkeys(name for names in table.values() for name in names))
    try:
        return table[media_type]
    except KeyError:
        raise MediaTypeError(
            "unsupported_media_type", f"{media_type[:100]!r} is not one of the {kind} types {sorted(table)}"
        ) from None


def video_demuxers(media_type: str | None) -> tuple[str, ...]:
    """FFmpeg demuxer names allowed for a declared video type (all allowed ones for None)."""
    return _allowed(VIDEO_CONTAINERS, media_type, "video")


def image_formats(media_type: str | None) -> tuple[str, ...]:
    """Pillow format names allowed for a declared image type (all allowed ones for None)."""
    return _allowed(IMAGE_FORMATS, media_type, "image")


def demuxer_options(media_type: str | None, local_file: bool = False) -> dict[str, str]:
    """`av.open` options: only the type's demuxers, and no protocol for nested opens (bytes are read through
    a Python file object, which needs none; a local path needs `file` for itself)."""
    return {
        "format_whitelist": ",".join(video_demuxers(media_type)),
        "protocol_whitelist": "file" if local_file else "none",
    }


def demuxer_allowed(format_name: str, media_type: str | None) -> bool:
    """Whether an opened container's demuxer (`container.format.name`) is one allowed for the type: the
    check after open, in case an option was not honoured."""
    return bool(set(format_name.split(",")) & set(video_demuxers(media_type)))
