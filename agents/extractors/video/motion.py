"""Motion experts: motion energy per shot, and static / stalled spans."""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np

from agents.extractors.video.expert import VideoExpert
from agents.extractors.video.motion_config import MotionConfig, StallConfig
from agents.extractors.video.signals import changed_fraction, mean_abs_diff
from agents.extractors.video.window import VideoWindow
from core.records import Anchor

log = logging.getLogger(__name__)

LEVELS = ("static", "low", "medium", "high")


class MotionExtractor(VideoExpert):
    """One `motion` span per shot: mean absolute luma change per frame inside the shot."""

    name: ClassVar[str] = "motion"
    requires: ClassVar[tuple[str, ...]] = ("scene_cut",)

    def __init__(self, config: MotionConfig) -> None:
        self.config = config

    def extract(self, window: VideoWindow) -> list[Anchor]:
        diff = mean_abs_diff(window)
        anchors: list[Anchor] = []
        for first, last in window.segments():
            energy = float(diff[first + 1 : last + 1].mean()) if last > first else 0.0
            level = LEVELS[int(np.searchsorted(self.config.level_edges, energy, side="right"))]
            anchors.append(self.anchor(window, first, end_position=last, value=energy, content=level))
        return anchors


class StallExtractor(VideoExpert):
    """`stall` spans: runs of frames with (almost) no change lasting at least `min_duration_s`."""

    name: ClassVar[str] = "stall"
    requires: ClassVar[tuple[str, ...]] = ("scene_cut",)

    def __init__(self, config: StallConfig) -> None:
        self.config = config

    def extract(self, window: VideoWindow) -> list[Anchor]:
        cfg = self.config
        static = (mean_abs_diff(window) < cfg.max_mean_diff) & (
            changed_fraction(window, cfg.pixel_level) < cfg.max_changed_fraction
        )
        if len(static):
            static[0] = False
        static[window.cut_positions()] = False
        anchors: list[Anchor] = []
        for first_pair, last_pair in _runs(static):
            first, last = first_pair - 1, last_pair  # pairs (p-1, p) static => frames first..last unchanged
            seconds = float(window.timestamps[last] - window.timestamps[first]) + 1.0 / window.fps
            if seconds >= cfg.min_duration_s:
                anchors.append(
                    self.anchor(
                        window, first, end_position=last, value=seconds, content=f"static {seconds:.1f}s"
                    )
                )
        return anchors


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) inclusive positions of the runs of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))
