"""`tailor replay --mapping` for RLDS TFRecords and LeRobot folders: the built-in presets give the records
of the readers' defaults on the real Bridge and UMI data, and a mapping for renamed copies of those
episodes (other feature / column / video key names) gives the same records as the defaults on the originals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.limits_config import LimitsConfig
from streaming.replay.base import ReplayError, ReplayEvent, ReplaySource
from streaming.replay.bridge import RldsTfrecordSource
from streaming.replay.lerobot import LeRobotArrowSource
from streaming.replay.lerobot_parquet import LeRobotParquetSource
from streaming.replay.mapping import load_replay_mapping, presets
from streaming.replay.mapping_config import LeRobotMapping, RldsMapping
from streaming.replay.rosbag_config import MappingError
from streaming.replay.source_config import ReplaySourceConfig
from tests.conftest import REPO
from tests.streaming.replay.conftest import RecordingMedia
from tests.streaming.replay.lerobot_fixtures import UMI, build_v2
from tests.streaming.replay.mapping_fixtures import (
    ARROW_RENAMES,
    first_episodes,
    renamed_bridge,
    renamed_umi_arrow,
    renamed_v2,
)

BRIDGE = Path("robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001")
T0 = 1_700_000_000.0


def _replay(
    cls: type[ReplaySource], path: Path, config: ReplaySourceConfig | None = None
) -> list[ReplayEvent]:
    return list(cls(path, RecordingMedia(), LimitsConfig(), config).events(T0, 2.0))


def _same(got: list[ReplayEvent], want: list[ReplayEvent]) -> None:
    assert len(got) == len(want) > 0
    for g, w in zip(got, want, strict=True):
        assert (g.key, g.at_s) == (w.key, w.at_s)
        assert g.record.model_dump() == w.record.model_dump()


@pytest.fixture(scope="module")
def umi_default(data_dir: Path) -> list[ReplayEvent]:
    return _replay(LeRobotArrowSource, data_dir / UMI)


def test_presets_are_listed_and_are_not_the_defaults() -> None:
    assert {"bridge", "umi"} <= set(presets())
    bridge, umi = load_replay_mapping("bridge"), load_replay_mapping("umi")
    assert bridge.rlds != RldsMapping() and bridge.rlds.cameras and bridge.lerobot == LeRobotMapping()
    assert umi.lerobot.gripper_column == "gripper_width" and umi.rlds == RldsMapping()


def test_bridge_preset_gives_the_default_records(data_dir: Path) -> None:
    _same(
        _replay(RldsTfrecordSource, data_dir / BRIDGE, load_replay_mapping("bridge")),
        _replay(RldsTfrecordSource, data_dir / BRIDGE),
    )


def test_umi_preset_gives_the_default_records(data_dir: Path, umi_default: list[ReplayEvent]) -> None:
    _same(_replay(LeRobotArrowSource, data_dir / UMI, load_replay_mapping("umi")), umi_default)


def test_rlds_mapping_for_renamed_features(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    name = BRIDGE.name  # the same file name in both: episode ids are `<file>:<record>`
    original = first_episodes(data_dir / BRIDGE, tmp_path / "a" / name, 3)
    renamed = renamed_bridge(data_dir / BRIDGE, tmp_path / "b" / name, 3)
    with pytest.raises(ReplayError, match="steps/action") as refused:  # the defaults cannot read it
        _replay(RldsTfrecordSource, renamed)
    assert refused.value.reason == "schema_mismatch"
    mapping = tmp_path / "other_lab.toml"
    mapping.write_text(
        """
[rlds]
state = ["steps/obs/proprio"]
action = ["steps/ctrl/arm", "steps/ctrl/gripper"]
gripper_index = 6
instruction = ["steps/task/text"]
is_first = "steps/start"
is_last = "steps/end"

[rlds.cameras]
image_0 = "steps/obs/cam_over_shoulder"
image_1 = "steps/obs/cam_side"
image_2 = "steps/obs/cam_front"
image_3 = "steps/obs/cam_spare"
"""
    )
    want = _replay(RldsTfrecordSource, original)
    assert len(want) == 30 and want[0].record.instruction  # type: ignore[union-attr]
    _same(_replay(RldsTfrecordSource, renamed, load_replay_mapping(mapping)), want)


def test_lerobot_arrow_mapping_for_renamed_columns(
    data_dir: Path, tmp_path: Path, umi_default: list[ReplayEvent]
) -> None:
    renamed = renamed_umi_arrow(data_dir / UMI, tmp_path / UMI.name)
    r = ARROW_RENAMES
    config = ReplaySourceConfig(
        lerobot=LeRobotMapping(
            state=[r["observation.state"]],
            gripper_column=r["gripper_width"],
            cameras={"observation.image": r["observation.image"]},
            timestamp=r["timestamp"],
            episode_index=r["episode_index"],
            frame_index=r["frame_index"],
        )
    )
    _same(_replay(LeRobotArrowSource, renamed, config), umi_default)


def test_lerobot_v2_mapping_for_renamed_columns_and_video_key(data_dir: Path, tmp_path: Path) -> None:
    original = build_v2(data_dir / UMI, tmp_path / "a" / "umi_v2")
    renamed = renamed_v2(original, tmp_path / "b" / "umi_v2")
    with pytest.raises(ReplayError, match="observation.state"):
        _replay(LeRobotParquetSource, renamed)
    mapping = tmp_path / "v2.toml"
    mapping.write_text(
        """
[lerobot]
state = ["obs.joints"]
action = ["act.arm", "act.grip"]
gripper_index = -1
timestamp = "t"
frame_index = "fi"
task_index = "task"
cameras = { "observation.image" = "cam.wrist" }
"""
    )
    got = _replay(LeRobotParquetSource, renamed, load_replay_mapping(mapping))
    want = _replay(LeRobotParquetSource, original)
    assert want[0].record.action_names and want[0].record.instruction  # type: ignore[union-attr]
    _same(got, want)


def test_mapping_errors_name_the_field(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="neither a file nor a preset"):
        load_replay_mapping("no_such_preset")
    both = tmp_path / "both.toml"
    both.write_text('step_topic = "/a"\n[rosbag]\nstep_topic = "/b"\n')
    with pytest.raises(MappingError, match="not both"):
        load_replay_mapping(both)
    bad = tmp_path / "bad.toml"
    bad.write_text('[lerobot]\nstate = ["a"]\ngripper_column = "g"\ngripper_index = 1\n')
    with pytest.raises(MappingError, match="not both"):
        load_replay_mapping(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text('[rlds]\ncamera = { a = "b" }\n')
    with pytest.raises(MappingError, match="rlds.camera"):
        load_replay_mapping(typo)
    top = tmp_path / "bag.toml"  # the ROS bag form of docs/formats/rosbag.md: keys at top level
    top.write_text('step_topic = "/cam"\n[cameras]\ncam = "/cam"\n')
    assert load_replay_mapping(top).rosbag.cameras == {"cam": "/cam"}
    wrong = ReplaySourceConfig(rlds=RldsMapping(cameras={"front": "steps/observation/state"}))
    with pytest.raises(ReplayError, match="not an image feature") as exc:
        _replay(RldsTfrecordSource, data_dir / BRIDGE, wrong)
    assert exc.value.reason == "mapping_mismatch"
    wrong = ReplaySourceConfig(rlds=RldsMapping(gripper_index=7))
    with pytest.raises(ReplayError, match="gripper_index 7"):
        _replay(RldsTfrecordSource, data_dir / BRIDGE, wrong)


def test_the_guide_names_every_key_and_its_examples_load(tmp_path: Path) -> None:
    doc = (REPO / "docs/formats/mapping.md").read_text()
    for model in (RldsMapping, LeRobotMapping):
        missing = [k for k in model.model_fields if f"| `{k}` |" not in doc]
        assert not missing, f"docs/formats/mapping.md does not describe {model.__name__}.{missing}"
    examples = re.findall(r"```toml\n(.*?)```", doc, re.DOTALL)
    assert len(examples) == 2
    for i, text in enumerate(examples):
        (tmp_path / f"{i}.toml").write_text(text)
        config = load_replay_mapping(tmp_path / f"{i}.toml")
        assert config.rlds != RldsMapping() or config.lerobot != LeRobotMapping()
