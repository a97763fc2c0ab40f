"""Fixtures of the robot expert tests: the real Bridge and UMI episodes from ../shared."""

from __future__ import annotations

import pytest

from agents.extractors.robot.window import RobotWindow
from tests.agents.extractors.robot.helpers import BRIDGE_FILE, UMI_DIR, robot_windows


@pytest.fixture(scope="session")
def bridge_windows() -> list[RobotWindow]:
    """The 25 real Bridge episodes (10 steps each), in file order."""
    return list(robot_windows(BRIDGE_FILE).values())


@pytest.fixture(scope="session")
def umi_window() -> RobotWindow:
    """The real UMI cup episode (400 steps at 10 fps, one camera)."""
    windows = robot_windows(UMI_DIR)
    assert len(windows) == 1
    return next(iter(windows.values()))
