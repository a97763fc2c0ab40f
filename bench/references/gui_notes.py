"""The GUI recordings' own annotations, read straight from their files (not through Tailor's readers):
one `StepNote` per recorded step with the annotated action and a description in words.

- AITW (CoAT export): `result_action_type` (4 dual point, 6 home, 10 complete), `result_touch_yx` /
  `result_lift_yx` (normalised y, x; a dual point whose ends lie over 0.04 apart is a scroll), the screen
  parse box of the tapped element (the smallest `ui_positions` box holding the touch point, else the one
  whose centre is nearest), the element's name and the step description from the CoAT annotation
  `coat_action_desc` (e.g. "click on the Clock app ...", where the screen parse reads the label "Cleck").
- Mind2Web: `previous_actions` ("[role]  name -> OP: value") and the gold `operation` on the positive
  candidate, with its `aria_label` and `bounding_box_rect` (page pixels; the step's screenshot crop starts
  at page row 0 here, checked against the recorded step when building).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from PIL import Image

from bench.references.base import ReferenceError
from bench.sources import SourceRef, resolve

AITW = SourceRef(root="shared", path="data/gui/aitw/GOOGLE_APPS-523638528775825151", kind="gui")
MIND2WEB = SourceRef(root="shared", path="data/gui/mind2web/thumbtack-wedding-photographer", kind="gui")
SWIPE = 0.04
_AITW_TYPES = {3: "type", 5: "back", 6: "home", 7: "enter", 10: "done", 11: "done"}
_APP = re.compile(r"click on the (.+?) app", re.IGNORECASE)
_PREVIOUS = re.compile(r"^\[(?P<role>[^\]]*)\]\s+(?P<name>.*?)\s+->\s+(?P<op>[A-Z]+)(?::\s*(?P<value>.*))?$")


@dataclass(frozen=True)
class StepNote:
    type: str
    description: str  # imperative, as the annotation words it
    point: tuple[float, float] | None = None
    target: str | None = None
    bbox: tuple[float, float, float, float] | None = None  # x, y, w, h
    text: str | None = None
    result: str | None = None  # what the annotation says the action achieves


@dataclass(frozen=True)
class GuiSession:
    source: SourceRef
    key: str
    instruction: str
    notes: tuple[StepNote, ...]


def sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:]


def aitw_session() -> GuiSession:
    folder = resolve(AITW)
    file = folder / f"{folder.name}.json"
    steps = json.loads(file.read_text(encoding="utf-8"))
    notes = []
    for i, raw in enumerate(steps):
        with Image.open(folder / f"{folder.name}_{i}.png") as img:
            width, height = img.size
        notes.append(_aitw_note(raw, width, height))
    return GuiSession(AITW, folder.name, steps[0]["instruction"], tuple(notes))


def _aitw_note(raw: dict[str, object], width: int, height: int) -> StepNote:
    code = int(str(raw["result_action_type"]))
    desc = sentence(str(raw.get("coat_action_desc") or ""))
    result = str(raw.get("coat_action_result") or "") or None
    if code != 4:
        return StepNote(_AITW_TYPES.get(code, "other"), desc, result=result)
    ty, tx = json.loads(str(raw["result_touch_yx"]))
    ly, lx = json.loads(str(raw["result_lift_yx"]))
    point = (round(tx * width, 1), round(ty * height, 1))
    if math.dist((ty, tx), (ly, lx)) > SWIPE:
        return StepNote("scroll", desc, point=point, result=result)
    app = _APP.search(desc)
    return StepNote(
        "click",
        desc,
        point=point,
        target=app.group(1) if app else None,
        bbox=_tapped_box(raw, point, width, height),
        result=result,
    )


def _tapped_box(
    raw: dict[str, object], point: tuple[float, float], width: int, height: int
) -> tuple[float, float, float, float] | None:
    boxes = []
    for y, x, h, w in json.loads(str(raw.get("ui_positions") or "[]")):
        pixels = max(y, x, h, w) > 1  # CoAT files hold pixels; AITW proper holds fractions
        sx, sy = (1.0, 1.0) if pixels else (float(width), float(height))
        boxes.append((x * sx, y * sy, w * sx, h * sy))
    if not boxes:
        return None
    px, py = point
    inside = [b for b in boxes if b[0] <= px <= b[0] + b[2] and b[1] <= py <= b[1] + b[3]]
    if inside:
        return min(inside, key=lambda b: b[2] * b[3])
    return min(boxes, key=lambda b: math.dist((b[0] + b[2] / 2, b[1] + b[3] / 2), point))


def mind2web_session() -> GuiSession:
    folder = resolve(MIND2WEB)
    first = json.loads((folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()[0])
    notes = [_previous(p) for p in first["previous_actions"]]
    notes.append(_gold(first))
    return GuiSession(MIND2WEB, str(first["annotation_id"]), str(first["confirmed_task"]), tuple(notes))


def _previous(line: str) -> StepNote:
    m = _PREVIOUS.match(line.strip())
    if m is None:
        raise ReferenceError(f"Mind2Web previous action {line!r} is not '[role] name -> OP: value'")
    role, name, op, value = (
        m.group("role"),
        m.group("name").strip(),
        m.group("op"),
        (m.group("value") or "").strip(),
    )
    if op == "TYPE":
        return StepNote("type", f'Type "{value}" into the "{name}" {role}', target=name, text=value)
    if op == "SELECT":
        return StepNote("select", f'Select "{value}" in the "{name}" {role}', target=name, text=value)
    return StepNote("click", f'Click the "{name}" {role}', target=name)


def _gold(query: dict[str, object]) -> StepNote:
    op = query["operation"]
    candidates = query["pos_candidates"]
    assert isinstance(op, dict) and isinstance(candidates, list)
    target = candidates[0]
    attrs = json.loads(target["attributes"])
    x, y, w, h = (float(v) for v in attrs["bounding_box_rect"].split(","))
    name = attrs.get("aria_label") or attrs.get("text") or target.get("tag")
    role = str(target.get("tag") or "element")
    point = (round(x + w / 2, 1), round(y + h / 2, 1))
    if op["op"] == "CLICK":
        return StepNote("click", f'Click the "{name}" {role}', point=point, target=name, bbox=(x, y, w, h))
    kind = "type" if op["op"] == "TYPE" else "select"
    return StepNote(
        kind,
        f'{kind.capitalize()} "{op["value"]}" into the "{name}" {role}',
        point=point,
        target=name,
        bbox=(x, y, w, h),
        text=str(op["value"]),
    )
