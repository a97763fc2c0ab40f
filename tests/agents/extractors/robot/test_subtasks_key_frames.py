"""Subtask boundaries (always a partition) and camera key frames (blank cameras skipped)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.extractors.gui.spans import partition_problems
from agents.extractors.robot.gripper import GripperEventExtractor
from agents.extractors.robot.key_frames import CameraKeyFrameExtractor, key_frame_camera, thin
from agents.extractors.robot.key_frames_config import KeyFrameConfig
from agents.extractors.robot.subtasks import SubtaskBoundaryExtractor
from agents.extractors.robot.window import RobotWindow
from core.records import Anchor, MediaRef
from streaming.replay.tfrecord import parse_example, read_records
from tests.agents.extractors.robot.helpers import BRIDGE_FILE, need, robot_window


def subtask_spans(anchors: list[Anchor]) -> list[tuple[int, int, str]]:
    return [
        (a.frame_index, a.end_frame_index if a.end_frame_index is not None else -1, a.content)
        for a in anchors
        if a.type == "subtask"
    ]


def test_phases_and_pause() -> None:
    moving = [(0.01 * i, 0.0, 0.1) for i in range(10)]
    pause = [moving[-1]] * 9
    more = [(0.09 + 0.01 * i, 0.0, 0.1) for i in range(1, 15)]
    xyz = moving + pause + more  # 33 steps; the pause covers frames 9..18
    gripper = [1.0] * 22 + [0.0] * 6 + [1.0] * 5
    anchors = SubtaskBoundaryExtractor()(robot_window(xyz, gripper, instruction="put the cup in the sink"))
    assert subtask_spans(anchors) == [
        (0, 8, "reach"),
        (9, 18, "pause"),
        (19, 21, "reach"),
        (22, 27, "carry"),
        (28, 32, "release"),
    ]
    (instruction,) = [a for a in anchors if a.type == "instruction"]
    assert instruction.content == "put the cup in the sink"
    assert (instruction.frame_index, instruction.end_frame_index) == (0, 32)


def test_window_inside_a_grasp_is_carry() -> None:
    anchors = SubtaskBoundaryExtractor()(robot_window([(0.01 * i, 0.0, 0.0) for i in range(6)], [0.0] * 6))
    assert subtask_spans(anchors) == [(0, 5, "carry")]


def test_no_gripper_no_instruction() -> None:
    anchors = SubtaskBoundaryExtractor()(robot_window([(0.01 * i, 0.0, 0.0) for i in range(5)]))
    assert subtask_spans(anchors) == [(0, 4, "move")]


@settings(max_examples=120, deadline=None)
@given(
    raw=st.lists(
        st.tuples(st.sampled_from([0.0, 0.001, 0.02]), st.sampled_from([0.0, 0.3, 0.5, 1.0])),
        min_size=1,
        max_size=40,
    )
)
def test_subtasks_partition_any_episode(raw: list[tuple[float, float]]) -> None:
    x = 0.0
    xyz, gripper = [], []
    for step, g in raw:
        x += step
        xyz.append((x, 0.0, 0.0))
        gripper.append(g)
    anchors = SubtaskBoundaryExtractor()(robot_window(xyz, gripper))
    spans = subtask_spans(anchors)
    assert partition_problems([(a, b) for a, b, _ in spans], len(raw)) == []
    assert all(label in {"reach", "carry", "release", "pause"} for _, _, label in spans)
    assert all(a[2] != b[2] for a, b in zip(spans, spans[1:]))  # neighbours differ (merged otherwise)


@pytest.fixture(scope="module")
def bridge_frames() -> tuple[list[bytes], list[bytes]]:
    """Episode 0's real main-camera JPEGs and its black, unused `image_3` slot, straight from the file."""
    payload = next(
        iter(read_records(Path(need(BRIDGE_FILE)), verify_data_crc=True, max_record_bytes=1 << 28))
    )
    features = parse_example(payload)
    main, black = features["steps/observation/image_0"], features["steps/observation/image_3"]
    assert isinstance(main, list) and isinstance(black, list)
    return main, black


def test_key_frames_at_first_last_and_events_skip_the_blank_camera(
    bridge_frames: tuple[list[bytes], list[bytes]],
) -> None:
    main, black = bridge_frames
    cams = [
        {"a_black": MediaRef.inline(b, "image/jpeg"), "main": MediaRef.inline(m, "image/jpeg")}
        for m, b in zip(main, black)
    ]
    gripper = [1.0] * 5 + [0.0] * 5
    window = robot_window([(0.0, 0.0, 0.1)] * 10, gripper, cameras=cams)
    anchors = CameraKeyFrameExtractor([GripperEventExtractor()])(window)
    assert [(a.frame_index, a.content) for a in anchors] == [
        (0, "first camera=main"),
        (5, "gripper_close camera=main"),
        (9, "last camera=main"),
    ]
    assert all(a.evidence_frames == [a.frame_index] for a in anchors)
    assert {key_frame_camera(a) for a in anchors} == {"main"}
    only_black = [{"a_black": c["a_black"]} for c in cams]
    assert (
        CameraKeyFrameExtractor([])(robot_window([(0.0, 0.0, 0.1)] * 10, gripper, cameras=only_black)) == []
    )


def test_key_frames_move_to_the_nearest_step_with_a_camera(
    bridge_frames: tuple[list[bytes], list[bytes]],
) -> None:
    main, _ = bridge_frames
    cams = [{"main": MediaRef.inline(m, "image/jpeg")} if i in (2, 7) else {} for i, m in enumerate(main)]
    window: RobotWindow = robot_window([(0.0, 0.0, 0.1)] * 10, [1.0] * 10, cameras=cams)
    anchors = CameraKeyFrameExtractor([], KeyFrameConfig(cameras=["main"]))(window)
    assert [(a.frame_index, a.content) for a in anchors] == [
        (2, "first camera=main"),
        (7, "last camera=main"),
    ]


def test_thin_keeps_ends() -> None:
    assert thin(list(range(10)), 3) == [0, 4, 9]
    assert thin([1, 2], 5) == [1, 2]


def test_camera_frames_are_cached_within_the_window_decoded_bytes_budget() -> None:
    """Issue 20 item 3, robot side: every decoded camera frame used to stay cached for the window's life."""
    from core.limits_config import LimitsConfig
    from core.records import RobotStep
    from tests.agents.extractors.gui.test_screen_change import flat_png

    frames = [flat_png(1024, 1024, 30 * i) for i in range(6)]  # 3 MiB decoded each
    steps = [
        RobotStep(
            episode_id="ep",
            step_index=i,
            timestamp=float(i),
            state=[0.0],
            cameras={"wrist": MediaRef.inline(b, "image/png")},
        )
        for i, b in enumerate(frames)
    ]
    budget = 7 * 1024 * 1024  # two frames
    win = RobotWindow.of(steps, limits=LimitsConfig(max_window_decoded_bytes=budget))
    shades = [win.camera_frame(i, "wrist").getpixel((0, 0)) for i in range(6)]  # type: ignore[union-attr]
    assert shades == [(30 * i,) * 3 for i in range(6)]
    held = sum(img.width * img.height * 3 for img in win._frames.values() if img is not None)
    assert 0 < held <= budget
    assert win.camera_frame(0, "wrist").getpixel((0, 0)) == (0, 0, 0)  # type: ignore[union-attr]  # decoded again
