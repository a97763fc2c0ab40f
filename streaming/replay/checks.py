"""Checks shared by the replay readers: ids, vectors, images, step order, JSON files, decode deadlines."""

from __future__ import annotations

import io
import json
import math
import re
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from core.limits_config import LimitsConfig
from core.records.raw import ID_PATTERN
from streaming.replay.base import ReplayError

_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9_.:@+=-]")


def sanitize_id(text: str, fallback: str = "stream") -> str:
    """Turn a file stem or dataset id into a valid record id (see `ID_PATTERN`)."""
    cleaned = _BAD_ID_CHARS.sub("_", text.strip())[:200] or fallback
    if not re.match(r"[A-Za-z0-9_]", cleaned[0]):
        cleaned = ("_" + cleaned)[:200]
    if not re.fullmatch(ID_PATTERN, cleaned):  # the pattern may tighten; never emit an invalid key
        cleaned = fallback
    return cleaned


def finite_vector(values: Iterable[Any], name: str, limits: LimitsConfig) -> list[float]:
    """Floats of a state / action vector; raise on NaN / inf or a vector longer than the cap."""
    out = [float(v) for v in values]
    if len(out) > limits.max_vector_len:
        raise ReplayError("vector_too_long", f"{name} has {len(out)} values > cap {limits.max_vector_len}")
    for i, v in enumerate(out):
        if not math.isfinite(v):
            raise ReplayError("nonfinite_vector", f"{name}[{i}] is {v}")
    return out


def finite_scalar(value: Any, name: str) -> float:
    out = float(value)
    if not math.isfinite(out):
        raise ReplayError("nonfinite_vector", f"{name} is {out}")
    return out


def image_size(data: bytes, name: str, limits: LimitsConfig) -> tuple[int, int]:
    """(width, height) from an image's header, checked against the pixel cap; no full decode."""
    if not data:
        raise ReplayError("corrupt_image", f"{name}: no bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ReplayError("image_too_large", f"{name}: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ReplayError("corrupt_image", f"{name}: {type(exc).__name__}: {exc}") from None
    if width <= 0 or height <= 0:
        raise ReplayError("corrupt_image", f"{name}: declares {width}x{height}")
    if width * height > limits.max_image_pixels:
        raise ReplayError(
            "image_too_large", f"{name}: {width}x{height} > cap of {limits.max_image_pixels} pixels"
        )
    return width, height


def check_increasing(values: Sequence[float], what: str) -> None:
    """Raise `out_of_order_steps` unless `values` (step indices or timestamps) strictly increase."""
    for i in range(1, len(values)):
        if not values[i] > values[i - 1]:
            raise ReplayError(
                "out_of_order_steps", f"{what}: item {i} has {values[i]!r} after {values[i - 1]!r}"
            )


def check_text(text: str | None, name: str, limits: LimitsConfig) -> str | None:
    if text is not None and len(text) > limits.max_text_chars:
        raise ReplayError("text_too_long", f"{name}: {len(text)} chars > cap {limits.max_text_chars}")
    return text


def read_bytes(path: Path, max_bytes: int, what: str) -> bytes:
    """A whole file, refusing missing, empty and oversized ones."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ReplayError("missing_file", f"{what} {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise ReplayError("empty_file", f"{what} {path} is empty")
    if size > max_bytes:
        raise ReplayError("file_too_large", f"{what} {path}: {size} bytes > cap {max_bytes}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ReplayError("unreadable", f"{what} {path}: {exc}") from None


def read_json(path: Path, max_bytes: int, what: str) -> Any:
    data = read_bytes(path, max_bytes, what)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReplayError("bad_json", f"{what} {path}: {exc}") from None


def parse_json_field(value: Any, name: str) -> Any:
    """Fields some datasets store as JSON text inside JSON (e.g. AITW's `ui_positions`)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ReplayError("bad_json", f"{name}: {exc}") from None


class Deadline:
    """A watchdog between library calls: raises `decode_timeout` when no progress for `timeout_s`.

    It cannot interrupt a call that never returns; it stops a decode loop that crawls or spins.
    """

    def __init__(self, timeout_s: float, what: str) -> None:
        self.timeout_s = timeout_s
        self.what = what
        self.last: float | None = None

    def tick(self) -> None:
        """Call after each unit of progress (a packet, a frame); the first call starts the clock."""
        now = time.monotonic()
        if self.last is not None and now - self.last > self.timeout_s:
            raise ReplayError("decode_timeout", f"{self.what}: no progress for over {self.timeout_s}s")
        self.last = now
