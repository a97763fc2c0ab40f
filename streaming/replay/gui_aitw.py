"""Android-in-the-Wild episodes (as shipped by CoAT: one JSON list + one screenshot per step) -> GuiSteps.

Per step: `result_action_type` uses AITW's codes: 3 type, 4 dual point (touch .. lift), 5 back,
6 home, 7 enter, 10 task complete, 11 task impossible. A dual point whose touch and lift lie more than
0.04 of the screen apart (AITW's swipe threshold) is a scroll, from the touch to the lift point;
otherwise it is a click at the touch point. Points are normalised (y, x) given as JSON strings and are
turned into pixels of the step's screenshot.

The screen parse (`ui_positions` [y, x, h, w], `ui_text`, `ui_types`; normalised or, as in the CoAT
files, already in screenshot pixels: values above 1 mean pixels) names the clicked element: the
smallest box containing the touch point, else the box nearest to it if within 0.14 of the screen
(AITW's tap-matching distance; icons are often parsed as their label just below them). The parse is
also passed on as `accessibility` text, one element per line.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from core.records import BBox, GuiAction, GuiStep, GuiTarget, MediaRef
from streaming.replay.base import ReplayError, ReplayEvent, ReplaySource
from streaming.replay.checks import parse_json_field, read_json, sanitize_id
from streaming.replay.gui_steps import GuiStepDraft, emit_session, load_screenshot

log = logging.getLogger(__name__)

SWIPE_THRESHOLD = 0.04
TAP_MATCH_DISTANCE = 0.14
_SIMPLE = {3: "type", 5: "back", 6: "home", 7: "enter", 10: "done", 11: "done"}
_MAX_JSON_BYTES = 64 << 20


class AitwEpisodeSource(ReplaySource):
    kind: ClassVar = "gui"
    record_type: ClassVar = GuiStep
    format_name: ClassVar[str] = "aitw"

    @classmethod
    def accepts(cls, path: Path) -> bool:
        file = _episode_file(path)
        if file is None:
            return False
        try:
            with file.open("rb") as fh:
                head = fh.read(65536)
        except OSError:
            return False
        return head.lstrip().startswith(b"[") and b'"result_action_type"' in head

    def events(self, t0: float, rate: float) -> Iterator[ReplayEvent]:
        file = _episode_file(self.path)
        if file is None:
            raise ReplayError("unknown_format", f"{self.path}: no AITW episode JSON")
        steps = read_json(file, _MAX_JSON_BYTES, "AITW episode")
        if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
            raise ReplayError("schema_mismatch", f"{file}: expected a non-empty JSON list of steps")
        session_id = sanitize_id(file.stem, "session")
        drafts = [self._step(file, session_id, s, i, i == len(steps) - 1) for i, s in enumerate(steps)]
        yield from emit_session(drafts, t0, rate, self.limits)

    def _step(self, file: Path, session_id: str, raw: dict[str, Any], i: int, last: bool) -> GuiStepDraft:
        where = f"{file.name} step {i}"
        try:
            step_id = int(raw.get("step_id", i))
            code = int(raw["result_action_type"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ReplayError("schema_mismatch", f"{where}: {exc}") from None
        screenshot, size = self._screenshot(file, raw)
        parse = _screen_parse(raw, size, where)
        return GuiStepDraft(
            session_id=session_id,
            step_index=step_id,
            at_s=step_id * self.config.gui_step_interval_s,
            action=_action(raw, code, size, parse, where),
            screenshot=screenshot,
            accessibility="\n".join(_describe(e) for e in parse) or None,
            instruction=str(raw["instruction"]) if raw.get("instruction") else None,
            is_last=last,
            source="aitw",
        )

    def _screenshot(self, file: Path, raw: dict[str, Any]) -> tuple[MediaRef | None, tuple[int, int] | None]:
        name = Path(str(raw.get("image_path") or "")).name
        path = file.parent / name if name else None
        if path is None or not path.is_file():
            log.warning("%s: screenshot %r not found beside the episode", file, name)
            return None, None
        ref, width, height = load_screenshot(path, self.media, self.limits)
        return ref, (width, height)


def _episode_file(path: Path) -> Path | None:
    if path.is_file():
        return path if path.suffix.lower() == ".json" else None
    if path.is_dir():
        named = path / f"{path.name}.json"
        if named.is_file():
            return named
        files = sorted(path.glob("*.json"))
        return files[0] if len(files) == 1 else None
    return None


def _point(raw: dict[str, Any], key: str, where: str) -> tuple[float, float]:
    value = parse_json_field(raw.get(key, "[-1, -1]"), f"{where} {key}")
    try:
        y, x = float(value[0]), float(value[1])
    except (TypeError, ValueError, IndexError):
        raise ReplayError("schema_mismatch", f"{where}: {key} is not a (y, x) pair") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ReplayError("nonfinite_vector", f"{where}: {key} is not finite")
    return y, x


def _screen_parse(raw: dict[str, Any], size: tuple[int, int] | None, where: str) -> list[GuiTarget]:
    positions = parse_json_field(raw.get("ui_positions", "[]"), f"{where} ui_positions") or []
    texts = parse_json_field(raw.get("ui_text", "[]"), f"{where} ui_text") or []
    types = parse_json_field(raw.get("ui_types", "[]"), f"{where} ui_types") or []
    if not (len(positions) == len(texts) == len(types)):
        raise ReplayError("schema_mismatch", f"{where}: ui_positions / ui_text / ui_types differ in length")
    normalised = all(0.0 <= float(v) <= 1.0 for box in positions for v in box)
    if normalised and positions and size is None:
        return []  # boxes cannot be placed in pixels without the screenshot
    sx, sy = size if normalised and size else (1, 1)
    out = []
    for box, text, kind in zip(positions, texts, types, strict=True):
        try:
            y, x, h, w = (float(v) for v in box)
        except (TypeError, ValueError):
            raise ReplayError("schema_mismatch", f"{where}: ui box {box!r} is not [y, x, h, w]") from None
        if not all(math.isfinite(v) for v in (y, x, h, w)) or h < 0 or w < 0:
            raise ReplayError("nonfinite_vector", f"{where}: ui box {box!r} is not a finite box")
        out.append(
            GuiTarget(
                text=str(text) or None,
                role=str(kind) or None,
                bbox=BBox(x=x * sx, y=y * sy, w=w * sx, h=h * sy),
            )
        )
    return out


def _action(
    raw: dict[str, Any], code: int, size: tuple[int, int] | None, parse: list[GuiTarget], where: str
) -> GuiAction:
    text = str(raw.get("result_action_text") or "") or None
    if code in _SIMPLE:
        if code == 11:
            text = "impossible"
        return GuiAction(type=_SIMPLE[code], text=text if code in (3, 11) else None)  # type: ignore[arg-type]
    if code != 4:
        return GuiAction(type="other", text=f"aitw_action_{code}")
    ty, tx = _point(raw, "result_touch_yx", where)
    ly, lx = _point(raw, "result_lift_yx", where)
    if not (0.0 <= tx <= 1.0 and 0.0 <= ty <= 1.0 and 0.0 <= lx <= 1.0 and 0.0 <= ly <= 1.0):
        raise ReplayError("schema_mismatch", f"{where}: dual point outside the screen")
    width, height = size or (None, None)
    if math.hypot(ly - ty, lx - tx) > SWIPE_THRESHOLD:
        if width is None or height is None:
            return GuiAction(type="scroll")
        return GuiAction(type="scroll", x=tx * width, y=ty * height, end_x=lx * width, end_y=ly * height)
    if width is None or height is None:
        return GuiAction(type="click")
    x, y = tx * width, ty * height
    return GuiAction(type="click", x=x, y=y, target=_target_at(x, y, parse, width, height))


def _target_at(x: float, y: float, parse: list[GuiTarget], width: int, height: int) -> GuiTarget | None:
    def distance(t: GuiTarget) -> float:
        b = t.bbox
        assert b is not None
        dx = max(b.x - x, 0.0, x - (b.x + b.w)) / width
        dy = max(b.y - y, 0.0, y - (b.y + b.h)) / height
        return math.hypot(dx, dy)

    containing = [t for t in parse if t.bbox is not None and distance(t) == 0.0]
    if containing:
        return min(containing, key=lambda t: t.bbox.w * t.bbox.h if t.bbox else 0.0)
    near = [t for t in parse if t.bbox is not None]
    best = min(near, key=distance, default=None)
    return best if best is not None and distance(best) <= TAP_MATCH_DISTANCE else None


def _describe(t: GuiTarget) -> str:
    b = t.bbox
    box = f"[{b.x:g}, {b.y:g}, {b.w:g}, {b.h:g}]" if b else "[]"
    return f"{t.role or 'ELEMENT'} {json.dumps(t.text or '')} {box}"
