"""Contact / lift expert. Both are PROXIES from proprioception alone, not measured forces:

- `contact`: a closing that settles short of fully closed (the fingers stopped on something);
  needs a measured gripper channel (a width or position), never fires on a binary 0/1 command.
- `lift`: the end-effector z rises by at least `lift_min_rise` while the gripper is closed.
"""

from __future__ import annotations

import logging

import numpy as np

from agents.extractors.base import Extractor
from agents.extractors.gui.spans import anchor_id
from agents.extractors.robot.channels import positions
from agents.extractors.robot.contact_lift_config import ContactLiftConfig
from agents.extractors.robot.gripper import gripper_track
from agents.extractors.robot.window import RobotWindow
from core.records import Anchor

log = logging.getLogger(__name__)


def settle_index(closing: np.ndarray, start: int, end: int, steps: int, tol: float) -> int | None:
    """Where a closing came to rest in [start, end]: the first step within `tol` of the span's most
    closed value (`closing` grows as the gripper closes), provided at least `steps` more steps
    follow inside the span (a closing still under way at the span's end has not come to rest)."""
    segment = closing[start : end + 1]
    if len(segment) == 0:
        return None
    k = start + int(np.argmax(segment >= segment.max() - tol))
    return k if k + steps <= end else None


def best_rise(z: np.ndarray, start: int, end: int) -> tuple[int, int, float]:
    """(low index, high index, rise) of the largest z[high] - z[low] with start <= low <= high <= end."""
    best = (start, start, 0.0)
    low = start
    for j in range(start, end + 1):
        if z[j] < z[low]:
            low = j
        if z[j] - z[low] > best[2]:
            best = (low, j, float(z[j] - z[low]))
    return best


class ContactLiftExtractor(Extractor[RobotWindow]):
    """`contact` point anchors (value = settled / open ratio) and `lift` spans (value = rise)."""

    name = "contact_lift"

    def __init__(self, config: ContactLiftConfig | None = None) -> None:
        self.config = config or ContactLiftConfig()

    def extract(self, window: RobotWindow) -> list[Anchor]:
        cfg = self.config
        track = gripper_track(window.steps, cfg.gripper)
        if track is None:
            return []
        sign = 1.0 if cfg.gripper.open_is_high else -1.0
        open_reading = float(track.values.max() if cfg.gripper.open_is_high else track.values.min())
        scale = sign * (open_reading - cfg.closed_value)
        z_all = positions(window.steps, cfg.gripper.channels)
        anchors: list[Anchor] = []
        steps = window.steps
        for start, end in track.closed_spans():
            if scale > 0:
                k = settle_index(-sign * track.values, start, end, cfg.settle_steps, cfg.settle_tol * scale)
                if k is not None:
                    ratio = sign * (float(track.values[k]) - cfg.closed_value) / scale
                    if ratio >= cfg.contact_min_ratio:
                        anchors.append(
                            Anchor(
                                anchor_id=anchor_id(self.name, "contact", k),
                                type="contact",
                                frame_index=k,
                                timestamp=steps[k].timestamp,
                                value=ratio,
                                content=f"contact (proxy): gripper settled at {ratio:.0%} of open",
                                evidence_frames=sorted({start, k}),
                            )
                        )
            if z_all is None:
                continue
            low, high, rise = best_rise(z_all[:, 2], start, end)
            if rise >= cfg.lift_min_rise:
                anchors.append(
                    Anchor(
                        anchor_id=anchor_id(self.name, "lift", low, high),
                        type="lift",
                        frame_index=low,
                        timestamp=steps[low].timestamp,
                        end_frame_index=high,
                        end_timestamp=steps[high].timestamp,
                        value=rise,
                        content=f"lift (proxy): z +{rise:.3f} while closed",
                        evidence_frames=[low, high],
                    )
                )
        return anchors
