"""Gripper event expert: open / close events from the gripper channel, with hysteresis.

Thresholds sit at fractions of the channel's own range (Bridge's commanded gripper is ~0/1, UMI's
gripper_width is a width in metres), so the same settings fit both without units.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agents.extractors.base import Extractor
from agents.extractors.gui.spans import anchor_id
from agents.extractors.robot.channels import gripper_series
from agents.extractors.robot.gripper_config import GripperConfig
from agents.extractors.robot.window import RobotWindow
from core.records import Anchor, RobotStep

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GripperTrack:
    """The gripper channel of a window, its openness in [0, 1] and its events."""

    values: np.ndarray
    source: str
    openness: np.ndarray
    starts_open: bool
    events: tuple[tuple[int, str], ...]
    """(step index, "close" | "open"), in order."""

    def closed_spans(self) -> list[tuple[int, int]]:
        """Inclusive (first, last) steps during which the gripper is closed by the event track."""
        spans: list[tuple[int, int]] = []
        closed_from = None if self.starts_open else 0
        for index, kind in self.events:
            if kind == "close" and closed_from is None:
                closed_from = index
            elif kind == "open" and closed_from is not None:
                spans.append((closed_from, index - 1))
                closed_from = None
        if closed_from is not None:
            spans.append((closed_from, len(self.values) - 1))
        return [(a, b) for a, b in spans if b >= a]

    def closed_at(self, index: int) -> bool:
        """Whether the gripper is closed at step `index` by the event track."""
        return any(start <= index <= end for start, end in self.closed_spans())


def openness(values: np.ndarray, config: GripperConfig) -> np.ndarray | None:
    """The channel rescaled to [0, 1] (0 closed, 1 open); None when it does not move enough."""
    if config.value_range is not None:
        closed, opened = config.value_range
    else:
        low, high = float(values.min()), float(values.max())
        scale = max(abs(low), abs(high))
        if high - low <= 0 or high - low < config.min_relative_span * scale:
            return None
        closed, opened = (low, high) if config.open_is_high else (high, low)
    return np.clip((values - closed) / (opened - closed), 0.0, 1.0)


def starts_open(open_level: np.ndarray, close_frac: float, open_frac: float) -> bool:
    """The starting state: open when the first value is at or above the midpoint of the thresholds."""
    return bool(len(open_level) == 0 or open_level[0] >= (close_frac + open_frac) / 2.0)


def hysteresis_events(open_level: np.ndarray, close_frac: float, open_frac: float) -> list[tuple[int, str]]:
    """Close when openness falls below `close_frac`, open when it rises above `open_frac`."""
    state_open = starts_open(open_level, close_frac, open_frac)
    events: list[tuple[int, str]] = []
    for i, level in enumerate(open_level):
        if state_open and level < close_frac:
            state_open = False
            events.append((i, "close"))
        elif not state_open and level > open_frac:
            state_open = True
            events.append((i, "open"))
    return events


def gripper_track(steps: Sequence[RobotStep], config: GripperConfig) -> GripperTrack | None:
    """The gripper track of a window; None when it carries no gripper channel."""
    series = gripper_series(steps, config.channels)
    if series is None:
        return None
    values, source = series
    level = openness(values, config)
    if level is None:  # a gripper that does not move: no events; shut only if it reads ~0 throughout
        shut = config.open_is_high and float(np.max(np.abs(values))) <= config.still_closed_abs
        flat = np.zeros_like(values) if shut else np.ones_like(values)
        return GripperTrack(values=values, source=source, openness=flat, starts_open=not shut, events=())
    events = hysteresis_events(level, config.close_frac, config.open_frac)
    first_open = starts_open(level, config.close_frac, config.open_frac)
    return GripperTrack(
        values=values, source=source, openness=level, starts_open=first_open, events=tuple(events)
    )


class GripperEventExtractor(Extractor[RobotWindow]):
    """`gripper_close` / `gripper_open` anchors at the step the channel crosses its threshold."""

    name = "gripper"

    def __init__(self, config: GripperConfig | None = None) -> None:
        self.config = config or GripperConfig()

    def extract(self, window: RobotWindow) -> list[Anchor]:
        track = gripper_track(window.steps, self.config)
        if track is None:
            return []
        anchors: list[Anchor] = []
        for index, kind in track.events:
            kind_name = f"gripper_{kind}"
            anchors.append(
                Anchor(
                    anchor_id=anchor_id(self.name, kind_name, index),
                    type=kind_name,
                    frame_index=index,
                    timestamp=window.steps[index].timestamp,
                    value=float(track.values[index]),
                    content=f"{kind} source={track.source} openness={track.openness[index]:.2f}",
                    evidence_frames=sorted({max(0, index - 1), index}),
                )
            )
        return anchors
