"""LeRobot readers on the real UMI episode: the early arrow layout as shipped, and v2.1 / v3.0 folders
built from it."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from core.limits_config import LimitsConfig
from core.records import RobotStep
from streaming.replay.base import ReplayError, ReplayEvent
from streaming.replay.lerobot import LeRobotArrowSource
from streaming.replay.lerobot_parquet import LeRobotParquetSource
from tests.streaming.replay.conftest import RecordingMedia
from tests.streaming.replay.lerobot_fixtures import (
    NAMES,
    TASK,
    UMI,
    VIDEO,
    build_v2,
    build_v2_av1,
    build_v3,
    umi_table,
    write_arrow_copy,
)

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def umi(data_dir: Path) -> Path:
    return data_dir / UMI


@pytest.fixture(scope="module")
def umi_events(umi: Path) -> list[ReplayEvent]:
    return list(LeRobotArrowSource(umi, RecordingMedia(), LimitsConfig()).events(T0, 4.0))


@pytest.fixture(scope="module")
def video_frames(umi: Path) -> list[np.ndarray]:
    with av.open(str(umi / VIDEO)) as c:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]


def _steps(events: list[ReplayEvent]) -> list[RobotStep]:
    assert all(isinstance(ev.record, RobotStep) for ev in events)
    return [ev.record for ev in events]  # type: ignore[misc]


def _pixels(step: RobotStep, camera: str = "observation.image") -> np.ndarray:
    data = step.cameras[camera].data
    assert data is not None
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def test_umi_400_rows_with_table_timestamps(umi: Path, umi_events: list[ReplayEvent]) -> None:
    table = umi_table(umi)
    steps = _steps(umi_events)
    assert len(steps) == 400
    assert {s.episode_id for s in steps} == {"umi_cup_in_the_wild:0"}
    assert [s.step_index for s in steps] == list(range(400))
    assert [ev.at_s for ev in umi_events] == pytest.approx(table.column("timestamp").to_pylist())
    assert [s.timestamp for s in steps] == pytest.approx(
        [T0 + t / 4.0 for t in table.column("timestamp").to_pylist()]
    )
    assert steps[0].is_first and not steps[0].is_last and steps[-1].is_last
    assert sum(s.is_first for s in steps) == 1 and sum(s.is_last for s in steps) == 1


def test_umi_state_gripper_and_difference_actions(umi: Path, umi_events: list[ReplayEvent]) -> None:
    table = umi_table(umi)
    states = np.asarray(table.column("observation.state").to_pylist())
    gripper = np.asarray(table.column("gripper_width").to_pylist())[:, 0]
    steps = _steps(umi_events)
    assert np.allclose([s.state for s in steps], states)
    assert np.allclose([s.gripper or 0.0 for s in steps], gripper) and all(
        s.gripper is not None for s in steps
    )
    actions = np.asarray([s.action for s in steps])
    assert np.allclose(actions[:-1], states[1:] - states[:-1], atol=1e-6)
    assert np.allclose(actions[-1], 0.0)
    assert np.abs(actions).sum() > 0.1  # the hand moved


def test_umi_camera_is_the_video_frame_at_that_time(
    umi_events: list[ReplayEvent], video_frames: list[np.ndarray]
) -> None:
    steps = _steps(umi_events)
    assert len(video_frames) == 400
    for i in (0, 57, 200, 399):
        ref = steps[i].cameras["observation.image"]
        assert ref.media_type == "image/jpeg" and (ref.width, ref.height) == (224, 224)
        own = np.abs(_pixels(steps[i]) - video_frames[i]).mean()
        other = np.abs(_pixels(steps[i]) - video_frames[(i + 100) % 400]).mean()
        assert own < 4.0 < other  # JPEG of the same frame, clearly not another frame


def test_umi_nan_state_is_refused(umi: Path, tmp_path: Path) -> None:
    table = umi_table(umi)
    states = table.column("observation.state").to_pylist()
    states[10][2] = float("nan")
    column = pa.array(states, table.schema.field("observation.state").type)
    bad = table.set_column(table.schema.get_field_index("observation.state"), "observation.state", column)
    folder = write_arrow_copy(umi, tmp_path / "umi_nan", bad)
    with pytest.raises(ReplayError) as err:
        next(LeRobotArrowSource(folder, RecordingMedia(), LimitsConfig()).events(0.0, 1.0))
    assert err.value.reason == "nonfinite_vector"


def test_umi_out_of_order_rows_are_flagged(umi: Path, tmp_path: Path) -> None:
    table = umi_table(umi)
    order = list(range(400))
    order[5], order[6] = order[6], order[5]
    folder = write_arrow_copy(umi, tmp_path / "umi_swapped", table.take(order))
    with pytest.raises(ReplayError) as err:
        next(LeRobotArrowSource(folder, RecordingMedia(), LimitsConfig()).events(0.0, 1.0))
    assert err.value.reason == "out_of_order_steps"


def test_umi_missing_video_is_an_error(umi: Path, tmp_path: Path) -> None:
    folder = write_arrow_copy(umi, tmp_path / "umi_novideo", umi_table(umi))
    (folder / VIDEO).unlink()
    with pytest.raises(ReplayError) as err:
        next(LeRobotArrowSource(folder, RecordingMedia(), LimitsConfig()).events(0.0, 1.0))
    assert err.value.reason == "missing_file"


def test_v2_folder(umi: Path, tmp_path: Path, umi_events: list[ReplayEvent]) -> None:
    root = build_v2(umi, tmp_path / "umi_v2")
    src = LeRobotParquetSource(root, RecordingMedia(), LimitsConfig())
    assert LeRobotParquetSource.accepts(root) and not LeRobotArrowSource.accepts(root)
    events = list(src.events(T0, 1.0))
    steps = _steps(events)
    table = umi_table(umi)
    states = np.asarray(table.column("observation.state").to_pylist())
    assert len(steps) == 400 and {s.episode_id for s in steps} == {"umi_v2:0"}
    assert [ev.at_s for ev in events] == pytest.approx(table.column("timestamp").to_pylist())
    assert np.allclose([s.state for s in steps], states)
    assert np.allclose([s.action for s in steps[:-1]], states[1:])  # the action column, as written
    assert steps[0].instruction == TASK
    assert steps[0].state_names == NAMES and steps[0].action_names == NAMES  # list and {"motors": [...]}
    assert np.allclose([s.gripper or 0.0 for s in steps[:-1]], states[1:, 6])  # the action's gripper channel
    early = _steps(umi_events)
    for i in (0, 123, 399):  # same frames as the early layout's reader picked
        assert steps[i].cameras["observation.image"].data == early[i].cameras["observation.image"].data


def test_v3_episodes_are_windows_of_a_shared_video(
    umi: Path, tmp_path: Path, umi_events: list[ReplayEvent]
) -> None:
    root = build_v3(umi, tmp_path / "umi_v3")
    events = list(LeRobotParquetSource(root, RecordingMedia(), LimitsConfig()).events(T0, 1.0))
    steps = _steps(events)
    assert [s.episode_id for s in steps] == ["umi_v3:0"] * 200 + ["umi_v3:1"] * 200
    assert [s.step_index for s in steps] == list(range(200)) * 2
    assert [s.is_first for s in steps].count(True) == 2 and [s.is_last for s in steps].count(True) == 2
    at = [ev.at_s for ev in events]
    assert all(b > a for a, b in zip(at, at[1:], strict=False))  # episode 1 follows episode 0
    assert at[200] == pytest.approx(at[199] + 0.1)
    early = _steps(umi_events)
    for i in (0, 199, 200, 250, 399):  # frame 200 is episode 1's first: from_timestamp is applied
        assert steps[i].cameras["observation.image"].data == early[i].cameras["observation.image"].data
    assert steps[300].instruction == TASK


def test_v3_video_window_past_the_end_is_reported(umi: Path, tmp_path: Path) -> None:
    root = build_v3(umi, tmp_path / "umi_v3_shifted")
    episodes = root / "meta/episodes/chunk-000/file-000.parquet"
    table = pq.read_table(episodes)
    idx = table.schema.get_field_index("videos/observation.image/from_timestamp")
    pq.write_table(
        table.set_column(idx, "videos/observation.image/from_timestamp", pa.array([0.0, 35.0])), episodes
    )
    with pytest.raises(ReplayError) as err:
        list(LeRobotParquetSource(root, RecordingMedia(), LimitsConfig()).events(0.0, 1.0))
    assert err.value.reason == "frame_missing"


def test_v2_folder_with_av1_video(umi: Path, tmp_path: Path, video_frames: list[np.ndarray]) -> None:
    """LeRobot's default video codec: the episode's AV1 video (SVT-AV1) gives each step the frame at its
    time, decoded by dav1d (close to the H.264 original, AV1 being lossy too)."""
    root = build_v2_av1(umi, tmp_path / "umi_v2_av1")
    steps = _steps(list(LeRobotParquetSource(root, RecordingMedia(), LimitsConfig()).events(T0, 1.0)))
    assert len(steps) == 400
    for i in (0, 123, 399):
        assert np.abs(_pixels(steps[i]) - video_frames[i]).mean() < 12
    assert (
        np.abs(_pixels(steps[123]) - video_frames[300]).mean()
        > np.abs(_pixels(steps[123]) - video_frames[123]).mean()
    )
