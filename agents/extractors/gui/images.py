"""Bounded image decoding for the GUI and robot experts (screenshots, camera frames).

Every decode checks the byte size and the declared pixel count before Pillow touches the pixels,
so a hostile or corrupt image fails fast with a reason label instead of eating memory.
"""

from __future__ import annotations

import logging
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator

import numpy as np
from PIL import Image

from core.blobstore import BlobStore, UriPolicyError
from core.limits_config import LimitsConfig
from core.media_probe import open_image
from core.records.base import RecordError
from core.records.media import MediaRef

log = logging.getLogger(__name__)


def media_bytes(ref: MediaRef, blobs: BlobStore | None, limits: LimitsConfig) -> bytes:
    """The bytes behind a MediaRef: inline data, or a claim check read through the blob store."""
    if ref.data is not None:
        return ref.data
    if blobs is None:
        raise RecordError(
            "blob_store_missing", f"media {ref.uri!r} is a claim check but no blob store is set"
        )
    try:
        return blobs.get(ref, max_bytes=limits.max_media_bytes)  # the cap ingest checked it by
    except UriPolicyError as exc:
        raise RecordError(exc.reason, exc.detail) from None


def decode_image(data: bytes, limits: LimitsConfig, media_type: str | None = None) -> Image.Image:
    """Decode image bytes to an RGB Pillow image, within the configured size caps.

    Only the Pillow plug-ins of the declared `media_type` may read the bytes (any allowed one for None)."""
    if not data:
        raise RecordError("empty_media", "image has no bytes")
    if len(data) > limits.max_media_bytes:
        raise RecordError("oversized_media", f"{len(data)} bytes > cap {limits.max_media_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_image(data, media_type) as img:
                width, height = img.size
                if width <= 0 or height <= 0:
                    raise RecordError("corrupt_media", "image declares no size")
                if width * height > limits.max_image_pixels:
                    raise RecordError(
                        "resolution_too_large", f"{width}x{height} > cap of {limits.max_image_pixels} pixels"
                    )
                img.load()
                return img.convert("RGB")
    except RecordError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RecordError("resolution_too_large", str(exc)) from None
    except Exception as exc:  # Pillow raises many exception types for bad bytes
        raise RecordError("corrupt_media", f"{type(exc).__name__}: {exc}"[:300]) from None


def decoded_size(image: Image.Image | None) -> int:
    """Bytes of a decoded image's pixels (0 for None)."""
    return 0 if image is None else image.width * image.height * len(image.getbands())


class DecodedImages:
    """The decoded images of one window, at most `budget` bytes of pixels held.

    Experts ask for the same step's image more than once (screen change, then target OCR), so images are
    kept; but a window of large screenshots must not hold one decoded image per step (a flat 4096x8192
    PNG is ~114 KiB on the wire, 96 MiB decoded). Past the budget the least recently used images are
    dropped and decoded again if asked for: memory is bounded, nothing is lost, the cost is a re-decode."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.bytes = 0
        self.decodes = 0
        self._images: OrderedDict[Hashable, Image.Image | None] = OrderedDict()

    def get(self, key: Hashable, decode: Callable[[], Image.Image | None]) -> Image.Image | None:
        if key in self._images:
            self._images.move_to_end(key)
            return self._images[key]
        image = decode()
        self.decodes += 1
        self._images[key] = image
        self.bytes += decoded_size(image)
        while self.bytes > self.budget and len(self._images) > 1:
            _old, dropped = self._images.popitem(last=False)
            self.bytes -= decoded_size(dropped)
        return image

    def __contains__(self, key: Hashable) -> bool:
        return key in self._images

    def values(self) -> Iterator[Image.Image | None]:
        return iter(list(self._images.values()))


def gray_thumbnail(image: Image.Image, size: int) -> np.ndarray:
    """A size x size grayscale thumbnail as float32 in [0, 1] (aspect is not kept: both sides compare)."""
    small = image.convert("L").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.float32) / 255.0


def crop_box(
    image_size: tuple[int, int], box: tuple[float, float, float, float], margin_px: float, margin_frac: float
) -> tuple[int, int, int, int] | None:
    """Integer crop (left, top, right, bottom) of an (x, y, w, h) box grown by a margin, clipped to the
    image; None when nothing of it lies on the image."""
    x, y, w, h = box
    grow_x = margin_px + margin_frac * w
    grow_y = margin_px + margin_frac * h
    left = max(0, int(np.floor(x - grow_x)))
    top = max(0, int(np.floor(y - grow_y)))
    right = min(image_size[0], int(np.ceil(x + w + grow_x)))
    bottom = min(image_size[1], int(np.ceil(y + h + grow_y)))
    if right - left < 1 or bottom - top < 1:
        return None
    return left, top, right, bottom
