"""Damaged bags, mappings that do not fit, and camera encodings: clear errors, nothing before the damage lost."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from core.limits_config import LimitsConfig
from core.records import RobotStep
from streaming.replay.base import ReplayError
from streaming.replay.rosbag import RosbagSource
from streaming.replay.rosbag_config import MappingError, RosbagMapping, load_mapping
from streaming.replay.rosbag_messages import IMAGE, UnsupportedImage, camera_frame
from streaming.replay.source_config import ReplaySourceConfig
from tests.streaming.replay.conftest import RecordingMedia
from tests.streaming.replay.rosbag_fixtures import BRIDGE_MAPPING, bridge_episodes, write_bridge_bag

FILES = {"mcap": "bridge_mcap.mcap", "sqlite3": "bridge_sqlite3.db3"}


@pytest.fixture(scope="module")
def episodes(data_dir: Path) -> list[list[RobotStep]]:
    return bridge_episodes(data_dir)


@pytest.fixture(scope="module")
def mapped() -> ReplaySourceConfig:
    return ReplaySourceConfig(rosbag=RosbagMapping.model_validate(tomllib.loads(BRIDGE_MAPPING)))


def replay_until_error(path: Path, config: ReplaySourceConfig | None) -> tuple[list[RobotStep], ReplayError]:
    got: list[RobotStep] = []
    with pytest.raises(ReplayError) as err:
        for event in RosbagSource(path, RecordingMedia(), LimitsConfig(), config).events(0.0, 1.0):
            assert isinstance(event.record, RobotStep)
            got.append(event.record)
    return got, err.value


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_a_bag_cut_short_keeps_the_steps_before_the_cut(
    storage: str, episodes: list[list[RobotStep]], mapped: ReplaySourceConfig, tmp_path: Path
) -> None:
    """A recording that stopped at 60 % of its file: rosbags refuses it; the scan reads up to the cut."""
    bag = write_bridge_bag(episodes, tmp_path / f"bridge_{storage}", storage)  # type: ignore[arg-type]
    data = (bag / FILES[storage]).read_bytes()
    (bag / FILES[storage]).write_bytes(data[: len(data) * 6 // 10])
    got, err = replay_until_error(bag, mapped)
    assert err.reason == "truncated_bag"
    assert FILES[storage] in str(err) and f"the {len(got)} steps before the damage were replayed" in str(err)
    source_steps = [s for e in episodes for s in e]
    assert 100 < len(got) < 200  # complete chunks / pages before the cut; measured 146 (MCAP), 150 (db3)
    for have, want in zip(got, source_steps, strict=False):
        assert (have.step_index, have.state, have.action) == (want.step_index, want.state, want.action)
        assert have.cameras["image_0"].data == want.cameras["image_0"].data
    assert got[-1].is_last  # the interrupted episode ends at its last step read ...
    assert got[-1].step_index == (len(got) - 1) % 10  # ... which is inside it when the cut falls mid-episode


def test_a_bare_mcap_file_cut_short_is_read_up_to_the_cut(
    episodes: list[list[RobotStep]], tmp_path: Path
) -> None:
    """Without metadata.yaml and without a mapping (one episode): the steps before the cut, then the error."""
    bag = write_bridge_bag(episodes[:12], tmp_path / "rec", "mcap")
    data = (bag / "rec.mcap").read_bytes()
    cut = tmp_path / "rec_cut.mcap"
    kept = []
    for end in (len(data) - 5000, len(data) // 2):  # only the summary and footer lost; half the file lost
        cut.write_bytes(data[:end])
        got, err = replay_until_error(cut, None)
        assert err.reason == "truncated_bag" and "cut short" in str(err)
        assert {s.episode_id for s in got} == {"rec_cut"} and got[-1].is_last
        kept.append(len(got))
    assert kept[0] == 120 and 0 < kept[1] < 120


def test_a_garbled_message_stops_the_replay_after_the_steps_before_it(
    episodes: list[list[RobotStep]], mapped: ReplaySourceConfig, tmp_path: Path
) -> None:
    bag = write_bridge_bag(episodes[:4], tmp_path / "garbled", "sqlite3", garbled_state_at=23)
    got, err = replay_until_error(bag, mapped)
    assert err.reason == "corrupt_message" and "/joint_states" in str(err)
    # episodes 0 and 1 whole; episode 2 up to its step 2 (the garbled state is step 3's)
    assert [len([s for s in got if s.episode_id.endswith(f":{k:05d}")]) for k in range(3)] == [10, 10, 3]


def test_unreadable_bag_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db3"
    junk.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    got, err = replay_until_error(junk, None)
    assert got == [] and err.reason == "unreadable_bag" and "junk.db3" in str(err)


def test_a_mapping_that_does_not_fit_the_bag_names_what_is_wrong(
    episodes: list[list[RobotStep]], tmp_path: Path
) -> None:
    bag = write_bridge_bag(episodes[:1], tmp_path / "b", "mcap")
    cases: list[tuple[str, dict[str, object]]] = [
        (
            r"mapping_mismatch: .*state names /arm/joints, which the bag does not have",
            {"state": ["/arm/joints"]},
        ),
        (r"/instruction is std_msgs/msg/String, which cannot be action", {"action": ["/instruction"]}),
        (r"step_topic /instruction must be a camera, state or action topic", {"step_topic": "/instruction"}),
        (
            r"/joint_states is mapped to two parts of the step",
            {"state": ["/joint_states"], "action": ["/joint_states"]},
        ),
    ]
    for pattern, fields in cases:
        config = ReplaySourceConfig(rosbag=RosbagMapping.model_validate(fields))
        with pytest.raises(ReplayError, match=pattern):
            list(RosbagSource(bag, RecordingMedia(), LimitsConfig(), config).events(0.0, 1.0))
    # two JointState topics and neither is /joint_states: the defaults do not guess
    odd = write_bridge_bag(episodes[:1], tmp_path / "odd", "mcap", rename={"/joint_states": "/arm/state"})
    with pytest.raises(
        ReplayError, match=r"ambiguous_topics: .*2 JointState topics \(/action/gripper, /arm/state\)"
    ):
        list(RosbagSource(odd, RecordingMedia(), LimitsConfig()).events(0.0, 1.0))


def test_mapping_files_are_checked_on_load(tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text(BRIDGE_MAPPING)
    assert load_mapping(path).cameras == {
        "image_0": "/image_0/compressed",
        "image_1": "/image_1/image_raw",
        "image_2": "/image_2/image_raw",
    }
    for text, message in (
        ("staet = ['/joint_states']", "staet: Extra inputs are not permitted"),
        ("timestamps = 'gps'", "timestamps: Input should be 'log' or 'header'"),
        ("[cameras]\n'wrist cam' = '/wrist/image_raw'", "camera name 'wrist cam'"),
        ("episode_gap_s = 0", "episode_gap_s: Input should be greater than 0"),
        ("state = [", "map.toml"),
    ):
        path.write_text(text)
        with pytest.raises(MappingError, match=message) as err:
            load_mapping(path)
        assert err.value.reason == "bad_mapping" and str(path) in str(err.value)


def raw(frame: np.ndarray, encoding: str, *, pad: int = 0, big: bool = False) -> SimpleNamespace:
    """A sensor_msgs/Image-shaped message of `frame` (rows padded by `pad` bytes)."""
    h, w = frame.shape[:2]
    rows = frame.reshape(h, -1)
    if big:
        rows = frame.astype(">u2").view(np.uint8).reshape(h, -1)
    elif frame.dtype == np.uint16:
        rows = frame.astype("<u2").view(np.uint8).reshape(h, -1)
    padded = np.concatenate([rows, np.zeros((h, pad), dtype=np.uint8)], axis=1)
    return SimpleNamespace(
        encoding=encoding,
        width=w,
        height=h,
        step=padded.shape[1],
        is_bigendian=int(big),
        data=padded.reshape(-1),
    )


def test_raw_camera_encodings_decode_to_the_same_pixels(episodes: list[list[RobotStep]]) -> None:
    """A real Bridge frame sent as every raw encoding the reader takes: PNG keeps the pixels exactly."""
    jpeg = episodes[3][4].cameras["image_0"].data
    rgb = np.asarray(Image.open(io.BytesIO(jpeg or b"")).convert("RGB"))
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    depth = gray.astype(np.uint16) * 257  # a 16-bit image made of the real frame (mm-like range)
    alpha = np.full(rgb.shape[:2] + (1,), 255, dtype=np.uint8)

    def frame(msg: SimpleNamespace, fmt: str = "png") -> np.ndarray:
        got = camera_frame(msg, IMAGE, raw_format=fmt, jpeg_quality=90, limits=LimitsConfig(), what="t")  # type: ignore[arg-type]
        assert (got.width, got.height) == (64, 64)
        return np.asarray(Image.open(io.BytesIO(got.data)))

    assert np.array_equal(frame(raw(rgb, "rgb8", pad=8)), rgb)  # row padding dropped
    assert np.array_equal(frame(raw(rgb[..., ::-1].copy(), "bgr8")), rgb)
    assert np.array_equal(frame(raw(np.concatenate([rgb[..., ::-1], alpha], axis=2), "bgra8"))[..., :3], rgb)
    assert np.array_equal(frame(raw(gray, "mono8")), gray)
    assert np.array_equal(frame(raw(depth, "16UC1")), depth)
    assert np.array_equal(frame(raw(depth, "mono16", big=True)), depth)
    assert np.array_equal(frame(raw(depth, "16UC1"), "jpeg"), depth)  # 16-bit stays PNG
    with pytest.raises(UnsupportedImage, match="encoding:bayer_rggb8"):
        frame(raw(gray, "bayer_rggb8"))
    short = raw(rgb, "rgb8")
    short.data = short.data[:-10]
    with pytest.raises(
        ReplayError, match="corrupt_image: t: rgb8 64x64 step 192 needs 12288 bytes, has 12278"
    ):
        frame(short)
