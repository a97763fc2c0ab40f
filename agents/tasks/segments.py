"""Units of work inside a window (subtasks, or GUI actions when a trajectory has a single subtask).

`step_units` give each unit the frames that show it (for "what comes next" questions); `tiled_units`
cut the window into contiguous, non-overlapping pieces (for fragment ordering).
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.tasks.anchor_view import action_phrase, last_frame, of_type, parse_action, span_end
from core.records import Anchor, AnchorSet


@dataclass(frozen=True)
class Unit:
    text: str
    start: int
    end: int  # inclusive
    anchor_ids: tuple[str, ...]


def subtask_units(anchors: AnchorSet) -> list[Unit]:
    """The window's `subtask` spans in order (they partition the window when the experts agree)."""
    return [
        Unit(a.content or "subtask", a.frame_index, span_end(a), (a.anchor_id,))
        for a in of_type(anchors, "subtask")
    ]


def gui_actions(anchors: AnchorSet) -> list[Anchor]:
    return of_type(anchors, "gui_action")


def action_units(anchors: AnchorSet) -> list[Unit]:
    """One unit per GUI action, over the frames that show it: its screen and the next (its evidence)."""
    out = []
    for a in gui_actions(anchors):
        end = max([a.frame_index, *a.evidence_frames])
        out.append(Unit(action_phrase(parse_action(a.content)), a.frame_index, end, (a.anchor_id,)))
    return out


def step_units(anchors: AnchorSet) -> list[Unit]:
    """Subtasks when there are two or more; for GUI windows with fewer, the individual actions."""
    subtasks = subtask_units(anchors)
    if len(subtasks) >= 2 or anchors.domain != "gui":
        return subtasks
    return action_units(anchors)


def tiled_units(anchors: AnchorSet, max_units: int) -> list[Unit]:
    """Contiguous, non-overlapping units covering frames 0..num_frames-1, at most `max_units` of them.

    Subtasks when they already tile the window in two or more pieces; else (GUI) one unit per action
    from its frame to the frame before the next action; consecutive units are merged evenly when there
    are more than `max_units`.
    """
    last = last_frame(anchors)
    subtasks = subtask_units(anchors)
    if len(subtasks) >= 2 and _tiles(subtasks, last):
        units = subtasks
    elif anchors.domain == "gui":
        actions = gui_actions(anchors)
        starts = sorted({a.frame_index for a in actions if a.frame_index <= last})
        if not starts:
            return []
        starts[0] = 0
        units = []
        for i, start in enumerate(starts):
            end = starts[i + 1] - 1 if i + 1 < len(starts) else last
            here = [a for a in actions if start <= a.frame_index <= end]
            text = "; then ".join(action_phrase(parse_action(a.content)) for a in here) or "wait"
            units.append(Unit(text, start, end, tuple(a.anchor_id for a in here)))
    else:
        return []
    return merge_units(units, max_units)


def merge_units(units: list[Unit], max_units: int) -> list[Unit]:
    """At most `max_units` units: consecutive units merged into nearly equal groups."""
    if len(units) <= max_units:
        return units
    out = []
    for g in range(max_units):
        group = units[g * len(units) // max_units : (g + 1) * len(units) // max_units]
        out.append(
            Unit(
                "; then ".join(u.text for u in group),
                group[0].start,
                group[-1].end,
                tuple(i for u in group for i in u.anchor_ids),
            )
        )
    return out


def _tiles(units: list[Unit], last: int) -> bool:
    if not units or units[0].start != 0 or units[-1].end != last:
        return False
    return all(b.start == a.end + 1 and b.end >= b.start for a, b in zip(units, units[1:]))
