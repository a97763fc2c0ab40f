"""Mind2Web steps as shipped by SeeAct (`queries.jsonl` + `images/<i>.jpg`) -> GuiSteps.

One folder holds one annotated action (`action_uid`) of a task (`annotation_id`, the session). SeeAct
split the action's candidate elements into several multiple-choice queries (one line each) and saved,
for query i, `images/<i>.jpg`: the full-page screenshot cropped to the rows around that query's
choices, from `top = round(max(0, min(choice top) - 1024))` down to `max(choice bottom) + 1024`.

Emitted steps: one per entry of `previous_actions` ("[role]  text -> OP: value"; no screenshot, no
box, since none was recorded), then the gold step: `operation` (CLICK / TYPE / SELECT) on the positive
candidate. Screenshot choice: the image of the query whose choices contain the target element (else
the first image). The target's `bounding_box_rect` is in page pixels; it is moved into that image by
subtracting the crop top, recomputed exactly as SeeAct cut it. If the moved box does not lie inside the
image the box and click point are dropped (logged). The click point is the box centre.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from core.records import BBox, GuiAction, GuiStep, GuiTarget, MediaRef
from streaming.replay.base import ReplayError, ReplayEvent, ReplaySource
from streaming.replay.checks import read_bytes, sanitize_id
from streaming.replay.gui_steps import GuiStepDraft, emit_session, load_screenshot

log = logging.getLogger(__name__)

CROP_MARGIN = 1024  # rows SeeAct kept above and below a query's choices
_OPS = {"CLICK": "click", "TYPE": "type", "SELECT": "select", "HOVER": "hover", "ENTER": "enter"}
_PREVIOUS = re.compile(
    r"^\[(?P<role>[^\]]*)\]\s*(?P<text>.*?)\s*->\s*(?P<op>[A-Z]+)(?::\s?(?P<value>.*))?$", re.DOTALL
)
_MAX_QUERIES_BYTES = 256 << 20


class Mind2WebSource(ReplaySource):
    kind: ClassVar = "gui"
    record_type: ClassVar = GuiStep
    format_name: ClassVar[str] = "mind2web"

    @classmethod
    def accepts(cls, path: Path) -> bool:
        file = path / "queries.jsonl" if path.is_dir() else path
        if file.name != "queries.jsonl" or not file.is_file():
            return False
        try:
            with file.open("rb") as fh:
                head = fh.read(4096)
        except OSError:
            return False
        return b'"confirmed_task"' in head or b'"annotation_id"' in head

    def events(self, t0: float, rate: float) -> Iterator[ReplayEvent]:
        folder = self.path if self.path.is_dir() else self.path.parent
        queries = _queries(folder / "queries.jsonl")
        first = queries[0]
        session_id = sanitize_id(str(first.get("annotation_id") or folder.name), "session")
        uids = list(dict.fromkeys(str(q.get("action_uid")) for q in queries))
        if len(uids) != 1:
            raise ReplayError("schema_mismatch", f"{folder}: one action per folder, found {len(uids)}")
        previous = [str(p) for p in first.get("previous_actions") or []]
        drafts = [self._previous(session_id, i, text, first) for i, text in enumerate(previous)]
        drafts.append(self._gold(folder, session_id, len(previous), queries))
        yield from emit_session(drafts, t0, rate, self.limits)

    def _step_time(self, index: int) -> float:
        return index * self.config.gui_step_interval_s

    def _previous(self, session_id: str, index: int, text: str, q: dict[str, Any]) -> GuiStepDraft:
        match = _PREVIOUS.match(text.strip())
        if match is None:
            action = GuiAction(type="other", text=text)
        else:
            op = match["op"].upper()
            target = GuiTarget(text=match["text"] or None, role=match["role"] or None)
            action = GuiAction(type=_OPS.get(op, "other"), text=match["value"], target=target)  # type: ignore[arg-type]
        return GuiStepDraft(
            session_id=session_id,
            step_index=index,
            at_s=self._step_time(index),
            action=action,
            app=str(q.get("website")) if q.get("website") else None,
            instruction=str(q.get("confirmed_task") or "") or None,
            source="mind2web",
        )

    def _gold(self, folder: Path, session_id: str, index: int, queries: list[dict[str, Any]]) -> GuiStepDraft:
        q = queries[0]
        operation = q.get("operation") or {}
        op = str(operation.get("op") or operation.get("original_op") or "").upper()
        positives = q.get("pos_candidates") or []
        if op not in _OPS or not positives:
            raise ReplayError(
                "schema_mismatch", f"{folder}: gold step needs an operation and a positive candidate"
            )
        candidates = candidates_by_id(q)
        target_id = str(positives[0].get("backend_node_id"))
        attrs = _attributes(positives[0])
        page_box = _rect(attrs.get("bounding_box_rect"))
        shown = next((i for i, x in enumerate(queries) if target_id in _choice_ids(x)), 0)
        screenshot, box = self._screenshot(folder, shown, queries[shown], candidates, page_box)
        label = (
            attrs.get("aria_label")
            or attrs.get("value")
            or attrs.get("placeholder")
            or _choice_text(q, target_id)
        )
        target = GuiTarget(text=label or None, element_id=target_id, role=positives[0].get("tag"), bbox=box)
        value = str(operation.get("value") or "") or None
        action = GuiAction(
            type=_OPS[op],  # type: ignore[arg-type]
            x=box.x + box.w / 2 if box else None,
            y=box.y + box.h / 2 if box else None,
            text=value,
            target=target,
        )
        return GuiStepDraft(
            session_id=session_id,
            step_index=index,
            at_s=self._step_time(index),
            action=action,
            screenshot=screenshot,
            html=q.get("cleaned_html"),
            app=str(q.get("website")) if q.get("website") else None,
            instruction=str(q.get("confirmed_task") or "") or None,
            is_last=True,
            source="mind2web",
        )

    def _screenshot(
        self,
        folder: Path,
        index: int,
        query: dict[str, Any],
        candidates: dict[str, dict[str, Any]],
        page_box: BBox | None,
    ) -> tuple[MediaRef | None, BBox | None]:
        path = folder / "images" / f"{index}.jpg"
        if not path.is_file():
            log.warning("%s: no screenshot %s", folder, path.name)
            return None, None
        ref, width, height = load_screenshot(path, self.media, self.limits)
        if page_box is None:
            return ref, None
        top = crop_top(query, candidates)
        box = BBox(x=page_box.x, y=page_box.y - top, w=page_box.w, h=page_box.h)
        if box.x < 0 or box.y < 0 or box.x + box.w > width or box.y + box.h > height:
            log.warning(
                "%s: target box %s is outside %s (%dx%d); box dropped", folder, box, path.name, width, height
            )
            return ref, None
        return ref, box


def crop_top(query: dict[str, Any], candidates: dict[str, dict[str, Any]]) -> float:
    """Page row where SeeAct's screenshot for this query starts (its crop, rounded like its cropper)."""
    boxes = [_rect(_attributes(candidates.get(c, {})).get("bounding_box_rect")) for c in _choice_ids(query)]
    tops = [b.y for b in boxes if b is not None]
    return float(round(max(0.0, min(tops) - CROP_MARGIN))) if tops else 0.0


def candidates_by_id(query: dict[str, Any]) -> dict[str, dict[str, Any]]:
    both = (query.get("pos_candidates") or []) + (query.get("neg_candidates") or [])
    return {str(c.get("backend_node_id")): c for c in both if isinstance(c, dict)}


def _queries(path: Path) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(read_bytes(path, _MAX_QUERIES_BYTES, "Mind2Web queries").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReplayError("bad_json", f"{path}:{n}: {exc}") from None
        if not isinstance(row, dict):
            raise ReplayError("bad_json", f"{path}:{n}: not an object")
        out.append(row)
    if not out:
        raise ReplayError("empty_file", f"{path} holds no queries")
    return out


def _attributes(candidate: dict[str, Any]) -> dict[str, Any]:
    raw = candidate.get("attributes")
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if isinstance(raw, str) else {}
    except json.JSONDecodeError:
        raise ReplayError("bad_json", f"candidate {candidate.get('backend_node_id')}: attributes") from None
    return value if isinstance(value, dict) else {}


def _rect(value: Any) -> BBox | None:
    """Mind2Web's "x,y,w,h" page rectangle."""
    if not isinstance(value, str):
        return None
    try:
        x, y, w, h = (float(v) for v in value.split(","))
    except ValueError:
        raise ReplayError("schema_mismatch", f"bounding_box_rect {value!r} is not x,y,w,h") from None
    if not all(abs(v) < 1e7 for v in (x, y, w, h)) or w < 0 or h < 0:  # also rejects NaN / inf
        raise ReplayError("nonfinite_vector", f"bounding_box_rect {value!r} is not a finite box")
    return BBox(x=x, y=y, w=w, h=h)


def _choice_ids(query: dict[str, Any]) -> list[str]:
    return [str(c[0]) for c in query.get("choices") or [] if isinstance(c, list) and c]


def _choice_text(query: dict[str, Any], node_id: str) -> str | None:
    """Visible text of a choice's HTML snippet, e.g. '<button id=7 submit search> Search </button>'."""
    for choice in query.get("choices") or []:
        if isinstance(choice, list) and len(choice) > 1 and str(choice[0]) == node_id:
            text = re.sub(r"<[^>]*>", " ", str(choice[1]))
            return " ".join(text.split()) or None
    return None
