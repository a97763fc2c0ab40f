"""Gripper event expert: hysteresis relative to the channel's range, channel choice, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from agents.extractors.base import ExtractorError
from agents.extractors.gui.expert_pipeline import ExpertPipeline
from agents.extractors.robot.channels_config import RobotChannelsConfig
from agents.extractors.robot.gripper import GripperEventExtractor, gripper_track, hysteresis_events, openness
from agents.extractors.robot.gripper_config import GripperConfig
from core.records import Anchor, RobotStep
from tests.agents.extractors.robot.helpers import robot_window

STILL = [(0.0, 0.0, 0.1)] * 12


def events(anchors: list[Anchor]) -> list[tuple[int, str]]:
    return [(a.frame_index, a.type) for a in anchors]


def test_binary_command_channel() -> None:
    g = [1.0] * 4 + [0.56, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    anchors = GripperEventExtractor()(robot_window(STILL, g))
    assert events(anchors) == [(5, "gripper_close"), (8, "gripper_open")]
    assert anchors[0].value == 0.0 and "source=gripper" in anchors[0].content
    assert anchors[0].evidence_frames == [4, 5]


def test_width_in_metres_uses_its_own_range() -> None:
    width = [0.081, 0.0812, 0.0808, 0.0778, 0.0647, 0.06, 0.0565, 0.0562, 0.0563, 0.062, 0.067, 0.083]
    assert events(GripperEventExtractor()(robot_window(STILL, width))) == [
        (5, "gripper_close"),
        (11, "gripper_open"),
    ]


def test_hysteresis_ignores_chatter_between_thresholds() -> None:
    level = np.array([1.0, 0.2, 0.5, 0.35, 0.6, 0.25, 0.8, 0.75])
    assert hysteresis_events(level, 0.3, 0.7) == [(1, "close"), (6, "open")]


def test_noise_on_a_still_gripper_is_not_an_event() -> None:
    g = [1.0, 0.99, 1.0, 0.98, 0.89, 1.0, 0.95, 1.0, 1.0, 0.97, 1.0, 0.9]
    assert GripperEventExtractor()(robot_window(STILL, g)) == []
    assert openness(np.array([0.5] * 5), GripperConfig()) is None


def test_still_gripper_state_from_its_reading() -> None:
    shut = gripper_track(robot_window(STILL, [0.0] * 12).steps, GripperConfig())
    assert shut is not None and shut.events == () and shut.closed_spans() == [(0, 11)]
    holding = gripper_track(robot_window(STILL, [0.056] * 12).steps, GripperConfig())
    assert holding is not None and holding.closed_spans() == []  # a still width cannot tell: open


def test_window_starting_closed() -> None:
    g = [0.0] * 6 + [1.0] * 6
    track = gripper_track(robot_window(STILL, g).steps, GripperConfig())
    assert track is not None and not track.starts_open
    assert track.events == ((6, "open"),)
    assert track.closed_spans() == [(0, 5)]


def test_known_range_and_inverted_channel() -> None:
    g = [0.0] * 4 + [0.9] * 4 + [0.0] * 4  # 0 = open, 1 = closed on this robot
    cfg = GripperConfig(value_range=(1.0, 0.0), open_is_high=False)
    assert events(GripperEventExtractor(cfg)(robot_window(STILL, g))) == [
        (4, "gripper_close"),
        (8, "gripper_open"),
    ]
    with pytest.raises(ValueError):
        GripperConfig(close_frac=0.8, open_frac=0.2)


def test_falls_back_to_the_action_channel() -> None:
    a = [1.0] * 6 + [0.0] * 6
    w = robot_window(STILL, None, action_gripper=a)
    anchors = GripperEventExtractor()(w)
    assert events(anchors) == [(6, "gripper_close")] and "source=action" in anchors[0].content
    state_cfg = GripperConfig(channels=RobotChannelsConfig(gripper_source="state", gripper_index=6))
    assert GripperEventExtractor(state_cfg)(w) == []  # the state's gripper slot is constant here
    assert GripperEventExtractor()(robot_window(STILL, None)) == []  # no channel at all: no events


def test_out_of_range_channel_index_is_a_clear_error() -> None:
    w = robot_window(STILL, None, action_gripper=[1.0] * 12)
    cfg = GripperConfig(channels=RobotChannelsConfig(gripper_source="action", gripper_index=9))
    with pytest.raises(ExtractorError) as info:
        ExpertPipeline([GripperEventExtractor(cfg)]).run(w)
    assert info.value.reason == "channel_out_of_range" and info.value.extractor == "gripper"


def test_nan_is_refused_at_the_record() -> None:
    with pytest.raises(ValueError):
        RobotStep(episode_id="e", step_index=0, timestamp=0.0, state=[float("nan")])
