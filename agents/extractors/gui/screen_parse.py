"""Reading a step's screen parse (`GuiStep.accessibility`) into boxed elements, and hit-testing them.

Accepted layouts, all with boxes in screenshot pixels:
- one element per line, `ROLE "json text" [x, y, w, h]` (what the replay readers write);
- a JSON list of elements `{"text", "role" | "type", "bbox": [x, y, w, h] | {"x", "y", "w", "h"}}`;
- an object with such a list under `elements`;
- an Android-in-the-Wild style object with parallel lists `ui_positions` ([y, x, h, w] each),
  `ui_text` and `ui_types`.
Anything else (other accessibility trees, HTML) yields no elements: the parse is optional.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.records import BBox

log = logging.getLogger(__name__)

MAX_ELEMENTS = 5000
_NUM = r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_LINE = re.compile(rf'^(\S+) ("(?:[^"\\]|\\.)*") \[{_NUM}, {_NUM}, {_NUM}, {_NUM}\]$')


@dataclass(frozen=True)
class ScreenElement:
    text: str
    role: str | None
    bbox: BBox


def _box(value: Any) -> BBox | None:
    try:
        if isinstance(value, dict):
            x, y, w, h = (float(value[k]) for k in ("x", "y", "w", "h"))
        elif isinstance(value, (list, tuple)) and len(value) == 4:
            x, y, w, h = (float(v) for v in value)
        else:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w < 0 or h < 0:
        return None
    return BBox(x=x, y=y, w=w, h=h)


def _element(item: Any) -> ScreenElement | None:
    if not isinstance(item, dict):
        return None
    box = _box(item.get("bbox"))
    if box is None:
        return None
    role = item.get("role") or item.get("type")
    return ScreenElement(text=str(item.get("text") or ""), role=str(role) if role else None, bbox=box)


def _aitw_elements(data: dict[str, Any]) -> list[ScreenElement]:
    positions, texts, types = data.get("ui_positions"), data.get("ui_text"), data.get("ui_types")
    if isinstance(positions, str):  # the raw dataset stores these lists as JSON strings
        positions, texts, types = (
            json.loads(v) if isinstance(v, str) else v for v in (positions, texts, types)
        )
    if not isinstance(positions, list):
        return []
    texts = texts if isinstance(texts, list) else [""] * len(positions)
    types = types if isinstance(types, list) else [None] * len(positions)
    out: list[ScreenElement] = []
    for pos, text, kind in zip(positions, texts, types):
        if isinstance(pos, (list, tuple)) and len(pos) == 4:
            box = _box([pos[1], pos[0], pos[3], pos[2]])  # [y, x, h, w] -> x, y, w, h
            if box is not None:
                out.append(ScreenElement(text=str(text or ""), role=str(kind) if kind else None, bbox=box))
    return out


def _line_elements(text: str) -> list[ScreenElement]:
    out: list[ScreenElement] = []
    for line in text.splitlines()[:MAX_ELEMENTS]:
        match = _LINE.match(line.strip())
        if match is None:
            continue
        try:
            label = json.loads(match.group(2))
        except json.JSONDecodeError:
            continue
        box = _box([match.group(i) for i in range(3, 7)])
        if box is not None:
            role = match.group(1)
            out.append(ScreenElement(text=str(label), role=None if role == "ELEMENT" else role, bbox=box))
    return out


def parse_screen(text: str) -> list[ScreenElement]:
    """Boxed elements of a screen parse (see the module docstring); [] for layouts it does not know."""
    stripped = text.lstrip()
    if not stripped:
        return []
    if stripped[0] not in "[{" or _LINE.match(stripped.splitlines()[0].strip()):
        return _line_elements(stripped)
    try:
        data = json.loads(stripped)
    except (json.JSONDecodeError, RecursionError):
        return []
    if isinstance(data, dict):
        if "ui_positions" in data:
            return _aitw_elements(data)[:MAX_ELEMENTS]
        data = data.get("elements")
    if not isinstance(data, list):
        return []
    elements = (_element(item) for item in data[:MAX_ELEMENTS])
    return [e for e in elements if e is not None]


def box_distance(box: BBox, x: float, y: float) -> float:
    """Distance from a point to a box (0 inside it)."""
    dx = max(box.x - x, 0.0, x - (box.x + box.w))
    dy = max(box.y - y, 0.0, y - (box.y + box.h))
    return math.hypot(dx, dy)


def nearest_element(
    elements: Sequence[ScreenElement], x: float, y: float, max_distance: float
) -> ScreenElement | None:
    """The element containing the point (the smallest one if nested), else the nearest within
    `max_distance`; texted elements win ties over bare icons."""
    best: tuple[float, int, float, int] | None = None
    for i, el in enumerate(elements):
        d = box_distance(el.bbox, x, y)
        if d > max_distance:
            continue
        key = (d, 0 if el.text.strip() else 1, el.bbox.w * el.bbox.h, i)
        if best is None or key < best:
            best = key
    return None if best is None else elements[best[3]]
