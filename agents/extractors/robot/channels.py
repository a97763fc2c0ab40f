"""Pure readers of robot channels: the gripper series and the end-effector positions of a window."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from agents.extractors.robot.channels_config import RobotChannelsConfig
from core.records import RobotStep
from core.records.base import RecordError

log = logging.getLogger(__name__)

_AXIS_NAMES = (
    ("x", "ee_x", "eef_x", "pos_x"),
    ("y", "ee_y", "eef_y", "pos_y"),
    ("z", "ee_z", "eef_z", "pos_z"),
)


def _checked(values: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise RecordError("non_finite", f"{what} holds NaN or infinity")
    return values


def _pick(vectors: Sequence[Sequence[float]], index: int, what: str) -> np.ndarray | None:
    if not vectors or any(not v for v in vectors):
        return None
    if any(not -len(v) <= index < len(v) for v in vectors):
        raise RecordError("channel_out_of_range", f"{what} index {index} is outside the vector")
    return _checked(np.asarray([v[index] for v in vectors], dtype=np.float64), what)


def gripper_series(steps: Sequence[RobotStep], config: RobotChannelsConfig) -> tuple[np.ndarray, str] | None:
    """(values per step, source name) of the gripper channel; None when the window carries none."""
    source = config.gripper_source
    if source in ("auto", "gripper") and steps and all(s.gripper is not None for s in steps):
        values = np.asarray([s.gripper for s in steps], dtype=np.float64)
        return _checked(values, "gripper"), "gripper"
    if source == "gripper":
        return None
    if source in ("auto", "action"):
        index = -1 if source == "auto" else config.gripper_index
        picked = _pick([s.action for s in steps], index, "action gripper")
        return None if picked is None else (picked, "action")
    picked = _pick([s.state for s in steps], config.gripper_index, "state gripper")
    return None if picked is None else (picked, "state")


def position_indices(step: RobotStep, config: RobotChannelsConfig) -> tuple[int, int, int]:
    """State indices of x, y, z: named ones when state_names say so, else the configured dims."""
    names = [n.lower() for n in step.state_names or []]
    found = [next((names.index(a) for a in aliases if a in names), None) for aliases in _AXIS_NAMES]
    if all(i is not None for i in found):
        x, y, z = found
        assert x is not None and y is not None and z is not None
        return (x, y, z)
    return config.position_dims


def positions(steps: Sequence[RobotStep], config: RobotChannelsConfig) -> np.ndarray | None:
    """End-effector (x, y, z) per step as an (N, 3) array; None when the state is too short."""
    if not steps:
        return None
    dims = position_indices(steps[0], config)
    if any(not -len(s.state) <= d < len(s.state) for s in steps for d in dims):
        return None
    values = np.asarray([[s.state[d] for d in dims] for s in steps], dtype=np.float64)
    return _checked(values, "end-effector position")
