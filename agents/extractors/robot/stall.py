"""Stall expert: spans where the end effector barely moves while the task is still running."""

from __future__ import annotations

import logging
import math

import numpy as np

from agents.extractors.base import Extractor
from agents.extractors.gui.spans import anchor_id
from agents.extractors.robot.channels import positions
from agents.extractors.robot.stall_config import StallConfig
from agents.extractors.robot.window import RobotWindow
from core.records import Anchor

log = logging.getLogger(__name__)


def still_runs(pos: np.ndarray, config: StallConfig) -> list[tuple[int, int, float]]:
    """(first step, last step, largest step motion) of runs of at least `min_steps` still steps.

    A step i >= 1 is still when |pos[i] - pos[i-1]| is under the threshold; a run of still steps
    i..j means the effector rested over frames i-1..j.
    """
    n = len(pos)
    if n < 2:
        return []
    motion = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    threshold = max(config.still_abs, config.still_rel * float(np.percentile(motion, 90)))
    still = motion < threshold
    runs: list[tuple[int, int, float]] = []
    i = 0
    while i < len(still):
        if not still[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(still) and still[j + 1]:
            j += 1
        first, last = i, j + 1  # frames i..j+1 (motion index k is between frames k and k+1)
        if last - first + 1 >= config.min_steps:
            runs.append((first, last, float(motion[i : j + 1].max())))
        i = j + 1
    return runs


def tail_start(n: int, config: StallConfig) -> int:
    """First frame of the final tail, where the robot may rest because the task is done."""
    tail = max(config.tail_min_steps, math.ceil(config.tail_frac * n))
    return max(0, n - tail)


class StallExtractor(Extractor[RobotWindow]):
    """`stall` spans (value = duration in steps) of near-zero end-effector motion before the tail."""

    name = "stall"

    def __init__(self, config: StallConfig | None = None) -> None:
        self.config = config or StallConfig()

    def extract(self, window: RobotWindow) -> list[Anchor]:
        pos = positions(window.steps, self.config.channels)
        if pos is None:
            return []
        cutoff = tail_start(len(pos), self.config)
        anchors: list[Anchor] = []
        for first, last, peak in still_runs(pos, self.config):
            if last >= cutoff:
                continue
            steps = last - first + 1
            anchors.append(
                Anchor(
                    anchor_id=anchor_id(self.name, "stall", first, last),
                    type="stall",
                    frame_index=first,
                    timestamp=window.steps[first].timestamp,
                    end_frame_index=last,
                    end_timestamp=window.steps[last].timestamp,
                    value=float(steps),
                    content=f"stall: {steps} steps, largest step motion {peak:.4f}",
                    evidence_frames=[first, last],
                )
            )
        return anchors
