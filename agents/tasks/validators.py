"""Validators shared by the task families: each is one check with one reason label.

They read what an output cites through `TaskOutput`'s methods (frame, range, grounded-frame, ordered-frame
and action cites), or named fields for the range relations, so one class serves every family.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel

from agents.tasks.anchor_view import anchored_frames, of_type, parse_action
from agents.tasks.base import ActionCite, SynthesisContext, TaskOutput, Validator, Violation
from core.records import Anchor

_SPACE = re.compile(r"\s+")


def as_output(output: BaseModel) -> TaskOutput:
    if not isinstance(output, TaskOutput):
        raise TypeError(f"validators need a TaskOutput, got {type(output).__name__}")
    return output


def field_value(output: BaseModel, path: str) -> Any:
    """The value at a dotted field path (`next_subtask.range`); through a list, the list of values."""
    value: Any = output
    for part in path.split("."):
        value = [getattr(v, part) for v in value] if isinstance(value, list) else getattr(value, part)
    return value


class FramesInWindow(Validator):
    """Every cited frame lies in 0..num_frames-1 (reason frame_out_of_window)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        n = ctx.anchors.num_frames
        return [
            Violation("frame_out_of_window", f"{c.field}={c.frame} not in [0, {n - 1}]")
            for c in as_output(output).frame_cites()
            if not 0 <= c.frame < n
        ]


class RangesPositive(Validator):
    """Every range has end > start (end >= start where a single frame is allowed) (range_not_positive)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        out = []
        for r in as_output(output).range_cites():
            if r.end < r.start or (r.end == r.start and not r.single_ok):
                out.append(Violation("range_not_positive", f"{r.field}=[{r.start}, {r.end}]"))
        return out


class FramesAnchored(Validator):
    """Every grounded frame is an anchor's frame, span end or evidence, or a key frame (frame_not_anchored)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        known = anchored_frames(ctx.anchors)
        return [
            Violation("frame_not_anchored", f"{c.field}={c.frame} is on no anchor or key frame")
            for c in as_output(output).grounded_cites()
            if c.frame not in known
        ]


class FramesOrdered(Validator):
    """Steps / actions / plan entries do not go back in time (frames_out_of_order)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        return [
            Violation("frames_out_of_order", f"{b.field}={b.frame} after {a.field}={a.frame}")
            for cites in as_output(output).frame_sequences()
            for a, b in zip(cites, cites[1:])
            if b.frame < a.frame
        ]


class FrameInRange(Validator):
    """The frame(s) at `frame_field` lie inside the [start, end] range at `range_field`."""

    def __init__(self, frame_field: str, range_field: str, reason: str) -> None:
        self.frame_field = frame_field
        self.range_field = range_field
        self.reason = reason

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        frames = field_value(output, self.frame_field)
        start, end = field_value(output, self.range_field)
        out = []
        for frame in frames if isinstance(frames, (list, tuple)) else [frames]:
            if not start <= frame <= end:
                out.append(
                    Violation(
                        self.reason, f"{self.frame_field}={frame} not in {self.range_field}=[{start}, {end}]"
                    )
                )
        return out


class RangeAfter(Validator):
    """The range at `after_field` starts after the frame / range end at `before_field`."""

    def __init__(self, before_field: str, after_field: str, reason: str) -> None:
        self.before_field = before_field
        self.after_field = after_field
        self.reason = reason

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        before = field_value(output, self.before_field)
        last = before[1] if isinstance(before, (list, tuple)) else before
        start = field_value(output, self.after_field)[0]
        if start > last:
            return []
        return [
            Violation(
                self.reason, f"{self.after_field} starts at {start}, not after {self.before_field} ({last})"
            )
        ]


def norm_text(text: str | None) -> str:
    return _SPACE.sub(" ", (text or "").replace('"', "'")).strip().casefold()


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    h = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = w * h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else float(a == b)


def action_mismatch(cite: ActionCite, anchor: Anchor, tolerance_px: float, min_iou: float) -> str | None:
    """Why the cited action is not the anchored one (None: it matches)."""
    parsed = parse_action(anchor.content)
    if cite.type != parsed.type:
        return f"type {cite.type!r} but the anchor says {parsed.type!r}"
    if cite.point is not None:
        if anchor.point is None and anchor.bbox is None:
            return "a point, but the anchored action has none"
        near = anchor.point is not None and math.dist(cite.point, anchor.point) <= tolerance_px
        box = anchor.bbox
        inside = (
            box is not None
            and box.x <= cite.point[0] <= box.x + box.w
            and box.y <= cite.point[1] <= box.y + box.h
        )
        if not (near or inside):
            return f"point {cite.point} is not at the anchored point {anchor.point} or inside its box"
    if cite.target is not None and norm_text(cite.target) != norm_text(parsed.target):
        return f"target {cite.target!r} but the anchor's is {parsed.target!r}"
    if cite.bbox is not None:
        if anchor.bbox is None:
            return "a box, but the anchored action has none"
        ref = (anchor.bbox.x, anchor.bbox.y, anchor.bbox.w, anchor.bbox.h)
        if iou(cite.bbox, ref) < min_iou:
            return f"box {cite.bbox} overlaps the anchored box {ref} below IoU {min_iou}"
    if cite.text is not None and norm_text(cite.text) != norm_text(parsed.text):
        return f"text {cite.text!r} but the anchor typed {parsed.text!r}"
    return None


class ActionsAnchored(Validator):
    """Every cited action is a gui_action anchor at that frame with the same type and point / target / box /
    text (action_not_anchored)."""

    def __init__(self, tolerance_px: float, min_iou: float) -> None:
        self.tolerance_px = tolerance_px
        self.min_iou = min_iou

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        by_frame: dict[int, list[Anchor]] = {}
        for a in of_type(ctx.anchors, "gui_action"):
            by_frame.setdefault(a.frame_index, []).append(a)
        out = []
        for cite in as_output(output).action_cites():
            candidates = by_frame.get(cite.frame, [])
            if not candidates:
                out.append(
                    Violation(
                        "action_not_anchored", f"{cite.field}: no gui_action anchor at frame {cite.frame}"
                    )
                )
                continue
            reasons = [action_mismatch(cite, a, self.tolerance_px, self.min_iou) for a in candidates]
            if all(r is not None for r in reasons):
                out.append(
                    Violation("action_not_anchored", f"{cite.field} at frame {cite.frame}: {reasons[0]}")
                )
        return out


class ActionsComplete(Validator):
    """Every gui_action anchor inside the range at `range_field` is cited (action_missing)."""

    def __init__(self, range_field: str) -> None:
        self.range_field = range_field

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        cited = {c.frame for c in as_output(output).action_cites()}
        start, end = field_value(output, self.range_field)
        return [
            Violation(
                "action_missing", f"{a.anchor_id} ({a.content[:60]}) at frame {a.frame_index} is not listed"
            )
            for a in of_type(ctx.anchors, "gui_action")
            if start <= a.frame_index <= end and a.frame_index not in cited
        ]
