"""The robot experts on the real Bridge and UMI episodes in ../shared, read by the replay readers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from agents.extractors.gui.spans import partition_problems
from agents.extractors.robot.channels_config import RobotChannelsConfig
from agents.extractors.robot.contact_lift import ContactLiftExtractor
from agents.extractors.robot.contact_lift_config import ContactLiftConfig
from agents.extractors.robot.gripper import GripperEventExtractor
from agents.extractors.robot.gripper_config import GripperConfig
from agents.extractors.robot.pipeline import RobotExpertPipeline
from agents.extractors.robot.window import RobotWindow
from core.records import Anchor
from tests.agents.extractors.robot.helpers import UMI_DIR

BRIDGE_TASKS = {
    "put carrot on plate",
    "put cup from counter or drying rack into sink",
    "flip pot upright which is in sink",
    "turn lever vertical to front",
}


def of_type(anchors: list[Anchor], *kinds: str) -> list[Anchor]:
    return [a for a in anchors if a.type in kinds]


def binary_transitions(channel: np.ndarray, level: float) -> list[tuple[int, str]]:
    """Where a channel crosses `level`: (step, gripper_close | gripper_open); higher means open."""
    opened = channel >= level
    return [
        (i, "gripper_open" if opened[i] else "gripper_close")
        for i in range(1, len(opened))
        if opened[i] != opened[i - 1]
    ]


def test_bridge_gripper_events_match_the_action_gripper_channel(bridge_windows: list[RobotWindow]) -> None:
    assert len(bridge_windows) == 25
    total = 0
    for window in bridge_windows:
        action_gripper = np.array([s.action[-1] for s in window.steps])  # Bridge: 1 open, 0 closed
        expected = binary_transitions(action_gripper, 0.5)
        got = [(a.frame_index, a.type) for a in GripperEventExtractor()(window)]
        assert got == expected, window.key
        total += len(got)
    assert total >= 15  # most of these episodes close the gripper within their 10 steps


def test_bridge_pipeline_carries_the_instruction_and_partitions(bridge_windows: list[RobotWindow]) -> None:
    pipeline = RobotExpertPipeline.default()
    seen = set()
    for window in bridge_windows:
        anchors = pipeline(window)
        (instruction,) = of_type(anchors, "instruction")
        assert instruction.content == window.steps[0].instruction
        seen.add(instruction.content)
        subtasks = of_type(anchors, "subtask")
        spans = [
            (a.frame_index, a.end_frame_index if a.end_frame_index is not None else -1) for a in subtasks
        ]
        assert partition_problems(spans, len(window.steps)) == []
        closes = of_type(anchors, "gripper_close")
        assert [a.content for a in subtasks] == (["reach", "carry"] if closes else ["reach"])
        key_frames = {a.frame_index: a.content for a in of_type(anchors, "key_frame")}
        assert key_frames[0].startswith("first") and "last" in key_frames[len(window.steps) - 1]
        assert all(a.frame_index in key_frames for a in closes)
        assert all(c.endswith("camera=image_0") for c in key_frames.values())
        assert len({a.anchor_id for a in anchors}) == len(anchors)
    assert seen == BRIDGE_TASKS


def test_bridge_contact_proxy_from_the_measured_gripper(bridge_windows: list[RobotWindow]) -> None:
    """Bridge's state[6] is the measured finger opening: a grasp stops it short of closed."""
    measured = ContactLiftConfig(gripper=GripperConfig(channels=RobotChannelsConfig(gripper_source="state")))
    expert = ContactLiftExtractor(measured)
    commanded = ContactLiftExtractor()
    for window in bridge_windows:
        assert of_type(commanded(window), "contact") == []  # a 0/1 command never shows contact
        state_gripper = np.array([s.state[-1] for s in window.steps])
        for contact in of_type(expert(window), "contact"):
            k = contact.frame_index
            assert contact.value is not None and 0.2 <= contact.value < 0.95
            assert state_gripper[k] < 0.95 * state_gripper.max()
            assert np.all(np.abs(state_gripper[k:] - state_gripper[k]) < 0.06)  # it came to rest
    grasps = sum(len(of_type(expert(w), "contact")) for w in bridge_windows)
    assert grasps >= 3


def umi_gripper_width() -> np.ndarray:
    with pa.memory_map(str(UMI_DIR / "train" / "data-00000-of-00001.arrow")) as source:
        table = pa.ipc.open_stream(source).read_all()
    return np.array([row[0] for row in table.column("gripper_width").to_pylist()], dtype=np.float64)


def test_umi_gripper_events_match_the_gripper_width_column(umi_window: RobotWindow) -> None:
    width = umi_gripper_width()
    assert len(width) == len(umi_window.steps) == 400
    expected = binary_transitions(width, (width.min() + width.max()) / 2)
    got = [(a.frame_index, a.type) for a in GripperEventExtractor()(umi_window)]
    assert [kind for _, kind in got] == [kind for _, kind in expected] == ["gripper_close", "gripper_open"]
    for (i, _), (j, _) in zip(got, expected):
        assert abs(i - j) <= 3  # hysteresis fires a little after the midpoint on closing, before on opening
    close, opened = got[0][0], got[1][0]
    assert width[close:opened].max() < width[:close].max()  # closed between the two events


def test_umi_pipeline_finds_grasp_lift_and_release(umi_window: RobotWindow) -> None:
    anchors = RobotExpertPipeline.default()(umi_window)
    (close,) = of_type(anchors, "gripper_close")
    (opened,) = of_type(anchors, "gripper_open")
    (contact,) = of_type(anchors, "contact")  # the cup stops the fingers at about 2/3 of open
    assert close.frame_index <= contact.frame_index < opened.frame_index
    assert contact.value is not None and 0.5 < contact.value < 0.8
    lifts = of_type(anchors, "lift")
    assert lifts and all(close.frame_index <= a.frame_index < opened.frame_index for a in lifts)
    z = np.array([s.state[2] for s in umi_window.steps])
    for lift in lifts:
        assert lift.end_frame_index is not None
        assert z[lift.end_frame_index] - z[lift.frame_index] >= 0.01
    subtasks = of_type(anchors, "subtask")
    spans = [(a.frame_index, a.end_frame_index if a.end_frame_index is not None else -1) for a in subtasks]
    assert partition_problems(spans, 400) == []
    labels = [a.content for a in subtasks]
    assert "carry" in labels and labels.index("carry") < labels.index("release")
    (carry,) = [a for a in subtasks if a.content == "carry"]
    assert (carry.frame_index, carry.end_frame_index) == (close.frame_index, opened.frame_index - 1)
    for stall in of_type(anchors, "stall"):
        assert stall.end_frame_index is not None and stall.end_frame_index < 360  # not the final rest
        pos = np.array([s.state[:3] for s in umi_window.steps[stall.frame_index : stall.end_frame_index + 1]])
        assert np.linalg.norm(np.diff(pos, axis=0), axis=1).max() < 0.002
    key = of_type(anchors, "key_frame")
    assert {0, 399, close.frame_index, opened.frame_index} <= {a.frame_index for a in key}
    frame = umi_window.camera_frame(close.frame_index, "observation.image")
    assert frame is not None and frame.size == (224, 224)
