"""ROS bags made of the real Bridge episodes replay into the same records as the RLDS file they came from."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from agents.anchoring_steps import RobotAnchoring
from agents.extractors.robot.pipeline import RobotExpertPipeline
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import MediaRef, RobotStep
from core.window import ClosedWindow
from streaming.replay.detect import open_sources
from streaming.replay.rosbag import RosbagSource
from streaming.replay.rosbag_config import RosbagMapping, load_mapping
from streaming.replay.source_config import ReplaySourceConfig
from tests.streaming.replay.conftest import RecordingMedia
from tests.streaming.replay.rosbag_fixtures import (
    BRIDGE_MAPPING,
    PAUSE_NS,
    bridge_episodes,
    latency_ns,
    write_bridge_bag,
)

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def episodes(data_dir: Path) -> list[list[RobotStep]]:
    return bridge_episodes(data_dir)


@pytest.fixture(scope="module")
def bags(episodes: list[list[RobotStep]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bags")
    return {s: write_bridge_bag(episodes, folder / f"bridge_{s}", s) for s in ("mcap", "sqlite3")}  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> ReplaySourceConfig:
    path = tmp_path_factory.mktemp("mapping") / "map.toml"
    path.write_text(BRIDGE_MAPPING)
    return ReplaySourceConfig(rosbag=load_mapping(path))


def replay(path: Path, config: ReplaySourceConfig | None = None) -> tuple[list[RobotStep], RosbagSource]:
    source = RosbagSource(path, RecordingMedia(), LimitsConfig(), config)
    steps = []
    for event in source.events(T0, 2.0):
        assert isinstance(event.record, RobotStep) and event.key == event.record.episode_id
        assert event.record.timestamp == pytest.approx(T0 + event.at_s / 2.0)
        steps.append(event.record)
    return steps, source


def pixels(ref: MediaRef) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(ref.data or b"")).convert("RGB"), dtype=np.int16)


def assert_same_images(got: RobotStep, want: RobotStep) -> None:
    """image_0 travelled as CompressedImage: the very bytes; image_1/2 as raw pixels: stored as PNG, the same
    pixels as the source JPEG decodes to."""
    assert sorted(got.cameras) == sorted(want.cameras) == ["image_0", "image_1", "image_2"]
    assert got.cameras["image_0"].data == want.cameras["image_0"].data
    for name in ("image_1", "image_2"):
        ref = got.cameras[name]
        assert (ref.media_type, ref.width, ref.height) == ("image/png", 64, 64)
        assert np.array_equal(pixels(ref), pixels(want.cameras[name]))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_a_bag_replays_the_records_of_the_rlds_file_it_was_made_of(
    storage: str, bags: dict[str, Path], mapped: ReplaySourceConfig, episodes: list[list[RobotStep]]
) -> None:
    steps, source = replay(bags[storage], mapped)
    source_steps = [s for e in episodes for s in e]
    assert len(steps) == len(source_steps) == 250
    keys = list(dict.fromkeys(s.episode_id for s in steps))
    assert keys == [f"bridge_{storage}:{k:05d}" for k in range(25)]  # split at the 2 s pauses
    for got, want in zip(steps, source_steps, strict=True):
        assert (got.step_index, got.is_first, got.is_last) == (want.step_index, want.is_first, want.is_last)
        assert got.state == want.state  # float32 values carried as float64: exact
        assert got.action == want.action  # the twist's 6 deltas, then the gripper command
        assert got.gripper == want.gripper
        assert got.instruction == want.instruction
        assert_same_images(got, want)
    # 10 Hz within an episode, the recorder's 2 s pause between episodes kept for pacing
    starts = [s.timestamp for s in steps if s.is_first]
    assert np.diff(starts) == pytest.approx([(1.0 + PAUSE_NS / 1e9) / 2.0] * 24)
    assert steps[1].timestamp - steps[0].timestamp == pytest.approx(0.1 / 2.0)
    assert source.skipped == {("unmapped", "/rosout"): 25}


def test_without_a_mapping_standard_messages_map_by_type(
    bags: dict[str, Path], episodes: list[list[RobotStep]]
) -> None:
    steps, source = replay(bags["mcap"])
    source_steps = [s for e in episodes for s in e]
    assert len(steps) == 250 and {s.episode_id for s in steps} == {"bridge_mcap"}  # the bag: one episode
    assert [s.step_index for s in steps] == list(range(250))
    assert steps[0].is_first and steps[-1].is_last and not any(s.is_last for s in steps[:-1])
    for got, want in zip(steps, source_steps, strict=True):
        assert got.state == want.state  # /joint_states
        assert got.state_names == ["x", "y", "z", "roll", "pitch", "yaw", "gripper"]
        assert got.action == want.action[:6]  # the one Twist topic
        assert got.action_names == ["linear_x", "linear_y", "linear_z", "angular_x", "angular_y", "angular_z"]
        assert got.gripper == want.state[-1]  # the state's joint named `gripper`
        assert got.instruction == want.instruction
        assert got.cameras["image_0"].data == want.cameras["image_0"].data
        for name in ("image_1", "image_2"):  # raw frames stored as JPEG, like the other robot readers
            ref = got.cameras[name]
            assert (ref.media_type, ref.width, ref.height) == ("image/jpeg", 64, 64)
            # quality 90 with 4:2:0 chroma on 64x64 frames full of detail: about 4 levels of 255 per channel
            assert np.abs(pixels(ref) - pixels(want.cameras[name])).mean() < 6.0
    # the second JointState topic and the log topic are counted and skipped, not errors
    assert source.skipped == {("unmapped", "/action/gripper"): 250, ("unmapped", "/rosout"): 25}


def test_header_stamps_give_the_step_times_when_asked(
    bags: dict[str, Path], mapped: ReplaySourceConfig
) -> None:
    by_header = mapped.model_copy(
        update={"rosbag": mapped.rosbag.model_copy(update={"timestamps": "header"})}
    )
    logged, _ = replay(bags["sqlite3"], mapped)
    stamped, _ = replay(bags["sqlite3"], by_header)
    assert [s.episode_id for s in stamped] == [s.episode_id for s in logged]
    # the step camera's stamp lags its log time by latency_ns(n): step times move by the difference
    for n, (a, b) in enumerate(zip(logged, stamped, strict=True)):
        shift = (latency_ns(0) - latency_ns(n)) / 1e9 / 2.0
        assert b.timestamp - a.timestamp == pytest.approx(shift, abs=1e-6)
    assert len({round(b.timestamp - a.timestamp, 6) for a, b in zip(logged, stamped)}) > 5


def test_a_ros1_bag_replays_too(
    episodes: list[list[RobotStep]], mapped: ReplaySourceConfig, tmp_path: Path
) -> None:
    bag = write_bridge_bag(episodes[:5], tmp_path / "bridge.bag", "ros1")
    steps, source = replay(bag, mapped)
    source_steps = [s for e in episodes[:5] for s in e]
    assert len(steps) == 50 and steps[0].episode_id == "bridge:00000"
    for got, want in zip(steps, source_steps, strict=True):
        assert (got.state, got.action, got.instruction) == (want.state, want.action, want.instruction)
        assert_same_images(got, want)
    assert source.skipped == {("unmapped", "/rosout"): 5}


def test_tailor_replay_finds_bags_in_a_folder(bags: dict[str, Path], tmp_path: Path) -> None:
    """rosbag2 folders are recordings of their own; a bare .mcap / .db3 (a folder without metadata.yaml, as
    a crashed recorder leaves it) is found as a file."""
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "ep.mcap").write_bytes((bags["mcap"] / "bridge_mcap.mcap").read_bytes())
    found = open_sources([bags["mcap"].parent, bare], None, RecordingMedia(), LimitsConfig())
    assert sorted((type(s).__name__, s.path.name) for s in found) == [
        ("RosbagSource", "bridge_mcap"),
        ("RosbagSource", "bridge_sqlite3"),
        ("RosbagSource", "ep.mcap"),
    ]
    assert sum(1 for _ in found[-1].events(0.0, 1.0)) == 250


def test_the_anchors_of_a_bag_are_those_of_its_source(
    bags: dict[str, Path], mapped: ReplaySourceConfig, episodes: list[list[RobotStep]], tmp_path: Path
) -> None:
    """Each episode as one window through the robot anchoring step: same gripper events, same key frames."""
    anchoring = RobotAnchoring(BlobStore.for_dir(tmp_path), LimitsConfig(), RobotExpertPipeline.default())
    steps, _ = replay(bags["mcap"], mapped)
    bag_episodes: dict[str, list[RobotStep]] = {}
    for s in steps:
        bag_episodes.setdefault(s.episode_id, []).append(s)
    assert len(bag_episodes) == len(episodes) == 25
    gripper_events = key_frames = 0
    for want_steps, got_steps in zip(episodes, bag_episodes.values(), strict=True):
        want, got = (anchoring.facts(window(s)) for s in (want_steps, got_steps))

        def view(facts):  # type: ignore[no-untyped-def]  # everything but the wall-clock times
            return [(a.type, a.frame_index, a.value, a.content, a.evidence_frames) for a in facts.anchors]

        assert view(got) == view(want)
        assert [k.frame_index for k in got.key_frames] == [k.frame_index for k in want.key_frames]
        for g, w in zip(got.key_frames, want.key_frames, strict=True):
            assert np.array_equal(
                pixels(MediaRef.inline(g.data, g.media_type)), pixels(MediaRef.inline(w.data, w.media_type))
            )
        assert got.instruction == want.instruction and got.num_frames == want.num_frames
        gripper_events += sum(a.type.startswith("gripper_") for a in got.anchors)
        key_frames += len(got.key_frames)
    assert gripper_events > 10 and key_frames > 25  # the comparison covers real events, not empty lists


def window(steps: list[RobotStep]) -> ClosedWindow:
    return ClosedWindow("robot", steps[0].episode_id, 0, "tailor.raw.robot", 0, 0, len(steps) - 1, steps)


def test_mapping_model_defaults_are_the_documented_ones() -> None:
    m = RosbagMapping()
    assert (m.cameras, m.state, m.action, m.instruction, m.step_topic) == (None, None, None, None, None)
    assert (m.timestamps, m.raw_images, m.episode_gap_s, m.gripper_joint) == ("log", "jpeg", None, None)
    assert all(f.description for f in RosbagMapping.model_fields.values())
    with pytest.raises(ValidationError, match="frozen"):
        m.timestamps = "header"  # type: ignore[misc]


def test_a_mapping_of_one_part_keeps_the_defaults_of_the_others(
    episodes: list[list[RobotStep]], tmp_path: Path
) -> None:
    """A leader arm's `/leader/joint_states` as the action (as teleoperation rigs record it): the state
    default then finds the one other `joint_states` topic instead of calling it ambiguous."""
    bag = write_bridge_bag(
        episodes[:2], tmp_path / "leader", "mcap", rename={"/action/gripper": "/leader/joint_states"}
    )
    config = ReplaySourceConfig(rosbag=RosbagMapping(action=["/leader/joint_states"]))
    steps, source = replay(bag, config)
    want = [s for e in episodes[:2] for s in e]
    assert [s.state for s in steps] == [s.state for s in want]
    assert [s.action for s in steps] == [[s.action[6]] for s in want]  # the leader's gripper joint
    assert steps[0].cameras.keys() == {"image_0", "image_1", "image_2"} and steps[0].instruction
    assert source.skipped == {("unmapped", "/action/twist"): 20, ("unmapped", "/rosout"): 2}
