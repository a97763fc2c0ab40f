"""Helpers of the robot expert tests: where the shared real data lives, and window builders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from agents.extractors.robot.window import RobotWindow
from core.limits_config import LimitsConfig
from core.records import MediaRef, RobotStep
from streaming.replay.base import open_sources

SHARED = Path(__file__).resolve().parents[4] / ".." / "shared"
BRIDGE_FILE = SHARED / "data" / "robot" / "bridge" / "bridge_dataset-train.tfrecord-00000-of-00001"
UMI_DIR = SHARED / "data" / "robot" / "umi_cup_in_the_wild"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (expected the shared data folder beside the repo)")
    return path


def robot_window(
    xyz: Sequence[Sequence[float]],
    gripper: Sequence[float] | None = None,
    *,
    action_gripper: Sequence[float] | None = None,
    instruction: str | None = None,
    cameras: Sequence[dict[str, MediaRef]] | None = None,
) -> RobotWindow:
    """A window whose state is (x, y, z, 0, 0, 0, g) per step."""
    steps = []
    for i, pos in enumerate(xyz):
        g = gripper[i] if gripper is not None else None
        steps.append(
            RobotStep(
                episode_id="ep",
                step_index=i,
                timestamp=100.0 + 0.1 * i,
                state=[*pos, 0.0, 0.0, 0.0, g if g is not None else 0.0],
                action=[0.0] * 6 + [action_gripper[i]] if action_gripper is not None else [],
                gripper=g,
                instruction=instruction,
                cameras=cameras[i] if cameras is not None else {},
            )
        )
    return RobotWindow.of(steps)


def robot_windows(path: Path) -> dict[str, RobotWindow]:
    """Windows per episode, read from a real recording by the project's replay readers."""
    need(path)
    sources = open_sources([path], "robot", lambda d, t, w, h: MediaRef.inline(d, t, w, h), LimitsConfig())
    steps: dict[str, list[RobotStep]] = {}
    for source in sources:
        for event in source.events(0.0, 1.0):
            assert isinstance(event.record, RobotStep)
            steps.setdefault(event.key, []).append(event.record)
    return {key: RobotWindow.of(episode) for key, episode in steps.items()}
