"""Phases and events of the UMI cup episode, from its own recorded signals: `gripper_width` (the jaw
opening, metres) and the end-effector position (state[0:3], metres).

- Gripper events: open width = median of the first 50 frames, closed width = the minimum; with margin =
  10 % of their difference, the close starts at the first frame below open − margin, the gripper is
  closed at the first later frame below closed + margin, it starts to open at the first later frame above
  closed + margin and is open again at the first later frame above open − margin.
- Pauses: runs of at least 10 frames whose speed (distance between consecutive positions, averaged over
  9 frames) is below 1.5 mm per step.
- Phases tile the episode: hold (the first pause, from frame 0 when it starts within 10 frames), approach,
  grasp, carry, release, retreat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.references.base import ReferenceError, first_index
from core.records import RobotStep

SPEED_AVERAGE = 9
PAUSE_BELOW_MM = 1.5
PAUSE_MIN_FRAMES = 10
WIDTH_MARGIN = 0.1
PHASE_TEXT = {
    "hold": "hold still above the table",
    "approach": "move the open gripper to the blue cup",
    "grasp": "close the gripper on the cup",
    "carry": "lift and carry the cup",
    "release": "open the gripper to set the cup down",
    "retreat": "move the open gripper away from the cup",
}
EVENT_TEXT = {
    "close_start": "the gripper starts to close on the cup",
    "closed": "the gripper is closed on the cup",
    "open_start": "the gripper starts to open",
    "opened": "the gripper is fully open again",
}


@dataclass(frozen=True)
class Phase:
    name: str
    start: int
    end: int  # inclusive

    @property
    def text(self) -> str:
        return PHASE_TEXT[self.name]


@dataclass(frozen=True)
class UmiTimeline:
    width: list[float]
    speed_mm: list[float]
    open_width: float
    closed_width: float
    events: dict[str, int]
    pauses: list[tuple[int, int]]
    phases: list[Phase]

    @classmethod
    def of(cls, steps: list[RobotStep]) -> UmiTimeline:
        width = [s.gripper for s in steps]
        if any(w is None for w in width):
            raise ReferenceError("UMI steps without gripper_width")
        widths = [float(w) for w in width if w is not None]
        position = np.array([s.state[:3] for s in steps], dtype=np.float64)
        step_mm = np.r_[0.0, np.linalg.norm(np.diff(position, axis=0), axis=1)] * 1000.0
        speed = np.convolve(step_mm, np.ones(SPEED_AVERAGE) / SPEED_AVERAGE, mode="same")
        open_w, closed_w = float(np.median(widths[:50])), float(min(widths))
        events = gripper_events(widths, open_w, closed_w)
        pauses = runs_below(speed.tolist(), PAUSE_BELOW_MM, PAUSE_MIN_FRAMES)
        return cls(widths, speed.tolist(), open_w, closed_w, events, pauses, tile(len(steps), events, pauses))

    def phase_at(self, frame: int) -> Phase:
        return next(p for p in self.phases if p.start <= frame <= p.end)


def gripper_events(width: list[float], open_w: float, closed_w: float) -> dict[str, int]:
    margin = WIDTH_MARGIN * (open_w - closed_w)
    close_start = first_index(width, 0, lambda v: v < open_w - margin)
    closed = None if close_start is None else first_index(width, close_start, lambda v: v < closed_w + margin)
    open_start = None if closed is None else first_index(width, closed, lambda v: v > closed_w + margin)
    opened = None if open_start is None else first_index(width, open_start, lambda v: v > open_w - margin)
    found = {"close_start": close_start, "closed": closed, "open_start": open_start, "opened": opened}
    missing = [k for k, v in found.items() if v is None]
    if missing:
        raise ReferenceError(f"UMI gripper_width has no {missing} event")
    return {k: int(v) for k, v in found.items() if v is not None}


def runs_below(values: list[float], threshold: float, min_len: int) -> list[tuple[int, int]]:
    out, start = [], None
    for i, v in enumerate([*values, threshold]):  # the sentinel closes a run at the end
        if v < threshold and start is None:
            start = i
        elif v >= threshold and start is not None:
            if i - start >= min_len:
                out.append((start, i - 1))
            start = None
    return out


def tile(n: int, events: dict[str, int], pauses: list[tuple[int, int]]) -> list[Phase]:
    hold_end = pauses[0][1] if pauses and pauses[0][0] <= 10 and pauses[0][1] < events["close_start"] else -1
    bounds = [
        ("hold", 0),
        ("approach", hold_end + 1),
        ("grasp", events["close_start"]),
        ("carry", events["closed"]),
        ("release", events["open_start"]),
        ("retreat", events["opened"]),
    ]
    if hold_end < 0:
        bounds = bounds[1:]
    return [
        Phase(name, start, (bounds[i + 1][1] - 1) if i + 1 < len(bounds) else n - 1)
        for i, (name, start) in enumerate(bounds)
    ]
