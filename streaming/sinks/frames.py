"""How an example's key frames go into its row: embedded as image bytes, or referenced by URI + sha256.

Embedding reads each frame through the BlobStore (URI policy, size cap, sha256 check) and checks that
the bytes are an image of sane size before it accepts them; a frame that fails is not embedded, and
its cell carries the reason label (e.g. `blob_hash_mismatch`) instead of bytes.
"""

from __future__ import annotations

import io
import logging
import warnings
from abc import ABC, abstractmethod

from PIL import Image

from core.blobstore import BlobStore, UriPolicyError
from core.media_formats import MediaTypeError, image_formats
from core.records import Example, FrameRef, MediaRef
from streaming.sinks.parquet_schema import FrameCell

log = logging.getLogger(__name__)

_MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


class FramePolicy(ABC):
    """Turns an example's FrameRefs into the frame cells of its row."""

    def cells(self, example: Example) -> list[FrameCell]:
        return [self.cell(ref) for ref in example.frames]

    @abstractmethod
    def cell(self, ref: FrameRef) -> FrameCell:
        """The cell of one frame."""


class ReferencedFrames(FramePolicy):
    """Keep only the URI and sha256; the bytes stay in the frame store."""

    def cell(self, ref: FrameRef) -> FrameCell:
        return FrameCell(ref)


class EmbeddedFrames(FramePolicy):
    """Copy the frame bytes into the row, verified against their sha256."""

    def __init__(self, store: BlobStore, max_bytes: int, max_pixels: int) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels

    def cell(self, ref: FrameRef) -> FrameCell:
        try:
            data = self.read(ref)
            self.check_image(data, _media_type(ref))
        except UriPolicyError as err:
            log.warning("frame %s not embedded: %s", ref.uri, err)
            return FrameCell(ref, error=err.reason)
        return FrameCell(ref, data=data)

    def read(self, ref: FrameRef) -> bytes:
        media = MediaRef(
            media_type=_media_type(ref),
            uri=ref.uri,
            sha256=ref.sha256,
            size_bytes=0,  # unknown here; BlobStore.get still caps the read at max_bytes
        )
        return self.store.get(media, self.max_bytes)

    def check_image(self, data: bytes, media_type: str) -> None:
        """Header-only check: the bytes open as an image of the type the frame's name says (only that Pillow
        plug-in may read them: a TIFF or PSD stored under .png is not embedded) no larger than `max_pixels`."""
        try:
            formats = image_formats(media_type)
        except MediaTypeError as err:
            raise UriPolicyError("frame_not_image", err.detail) from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the cap below decides
                with Image.open(io.BytesIO(data), formats=formats) as img:
                    width, height = img.size
        except Image.DecompressionBombError:
            raise UriPolicyError("frame_too_many_pixels", "the image header declares a bomb") from None
        except Exception as err:  # PIL raises many types for bad input; all mean "not an image"
            raise UriPolicyError("frame_not_image", f"{type(err).__name__}: {err}"[:200]) from None
        if width * height > self.max_pixels:
            raise UriPolicyError("frame_too_many_pixels", f"{width}x{height} > {self.max_pixels} pixels")


def _media_type(ref: FrameRef) -> str:
    """The frame's type by its name's extension, as the blob store names what it stores."""
    ext = ref.uri.rsplit(".", 1)[-1].lower() if "." in ref.uri.rsplit("/", 1)[-1] else ""
    return _MEDIA_TYPES.get(ext, "application/octet-stream")
