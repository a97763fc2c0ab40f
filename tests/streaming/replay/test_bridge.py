"""RLDS TFRecord episodes (the real BridgeData V2 file) -> RobotStep events."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.limits_config import LimitsConfig
from core.records import RobotStep
from streaming.replay.base import ReplayError, ReplayEvent
from streaming.replay.bridge import RldsTfrecordSource
from streaming.replay.source_config import ReplaySourceConfig
from streaming.replay.tfrecord import masked_crc32c, parse_example, read_records
from tests.streaming.replay.conftest import RecordingMedia

BRIDGE = Path("robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001")
T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def bridge_events(data_dir: Path) -> list[ReplayEvent]:
    return list(RldsTfrecordSource(data_dir / BRIDGE, RecordingMedia(), LimitsConfig()).events(T0, 2.0))


@pytest.fixture(scope="module")
def raw_examples(data_dir: Path) -> list[dict]:
    return [
        parse_example(r)
        for r in read_records(data_dir / BRIDGE, verify_data_crc=False, max_record_bytes=1 << 28)
    ]


def _steps(events: list[ReplayEvent]) -> list[RobotStep]:
    out = []
    for ev in events:
        assert isinstance(ev.record, RobotStep)
        out.append(ev.record)
    return out


def test_25_episodes_of_10_steps_in_order(bridge_events: list[ReplayEvent]) -> None:
    steps = _steps(bridge_events)
    assert len(steps) == 250
    keys = list(dict.fromkeys(ev.key for ev in bridge_events))
    assert len(keys) == 25
    for n, key in enumerate(keys):
        episode = steps[n * 10 : (n + 1) * 10]  # each episode contiguous
        assert {s.episode_id for s in episode} == {key}
        assert [s.step_index for s in episode] == list(range(10))
        assert [s.is_first for s in episode] == [True] + [False] * 9
        assert [s.is_last for s in episode] == [False] * 9 + [True]
    assert all(ev.key == ev.record.episode_id for ev in bridge_events)  # type: ignore[attr-defined]


def test_vectors_gripper_and_instruction_match_the_file(
    bridge_events: list[ReplayEvent], raw_examples: list[dict]
) -> None:
    steps = _steps(bridge_events)
    for n, example in enumerate(raw_examples):
        actions = np.asarray(example["steps/action"]).reshape(10, 7)
        states = np.asarray(example["steps/observation/state"]).reshape(10, 7)
        text = example["steps/language_instruction"][0].decode()
        for i in range(10):
            step = steps[n * 10 + i]
            assert np.allclose(step.action, actions[i]) and len(step.action) == 7
            assert np.allclose(step.state, states[i]) and len(step.state) == 7
            assert step.gripper == pytest.approx(float(actions[i][-1]))
            assert step.instruction == text
    assert {s.instruction for s in steps} >= {"put carrot on plate", "flip pot upright which is in sink"}


def test_cameras_are_the_non_black_jpegs_as_is(
    bridge_events: list[ReplayEvent], raw_examples: list[dict]
) -> None:
    steps = _steps(bridge_events)
    for n, example in enumerate(raw_examples):
        for i in range(10):
            step = steps[n * 10 + i]
            assert sorted(step.cameras) == ["image_0", "image_1", "image_2"]  # image_3 is the black slot
            for name, ref in step.cameras.items():
                assert ref.media_type == "image/jpeg" and (ref.width, ref.height) == (64, 64)
                assert ref.data == example[f"steps/observation/{name}"][i]  # bytes passed on unchanged
    black = raw_examples[0]["steps/observation/image_3"][0]
    assert np.asarray(Image.open(io.BytesIO(black)).convert("L")).max() == 0
    shown = Image.open(io.BytesIO(steps[0].cameras["image_0"].data or b""))
    assert np.asarray(shown.convert("L")).max() > 100  # a real picture


def test_timing_is_10_hz_back_to_back_scaled_by_rate(bridge_events: list[ReplayEvent]) -> None:
    at = [ev.at_s for ev in bridge_events]
    assert at == pytest.approx([i * 0.1 for i in range(250)])
    for ev in bridge_events:
        assert ev.record.timestamp == pytest.approx(T0 + ev.at_s / 2.0)  # type: ignore[attr-defined]


def test_robot_fps_setting_changes_the_pacing(data_dir: Path) -> None:
    src = RldsTfrecordSource(
        data_dir / BRIDGE, RecordingMedia(), LimitsConfig(), ReplaySourceConfig(robot_fps=5)
    )
    events = src.events(0.0, 1.0)
    first = [next(events) for _ in range(11)]
    assert [e.at_s for e in first] == pytest.approx([i * 0.2 for i in range(11)])


def _patched_copy(src: Path, dst: Path, record: int, old: bytes, new: bytes) -> None:
    """Copy a TFRecord file replacing `old` by `new` in one record, with valid CRCs."""
    payloads = list(read_records(src, verify_data_crc=True, max_record_bytes=1 << 28))
    assert payloads[record].count(old) >= 1
    payloads[record] = payloads[record].replace(old, new, 1)
    with dst.open("wb") as fh:
        for p in payloads:
            length = struct.pack("<Q", len(p))
            fh.write(
                length + struct.pack("<I", masked_crc32c(length)) + p + struct.pack("<I", masked_crc32c(p))
            )


def test_nan_in_an_action_raises_before_that_episode(
    data_dir: Path, raw_examples: list[dict], tmp_path: Path
) -> None:
    action = np.asarray(raw_examples[2]["steps/action"], dtype="<f4")
    old = action[:4].tobytes()
    new = np.array([action[0], np.nan, action[2], action[3]], dtype="<f4").tobytes()
    bad = tmp_path / "nan.tfrecord"
    _patched_copy(data_dir / BRIDGE, bad, 2, old, new)
    events = RldsTfrecordSource(bad, RecordingMedia(), LimitsConfig()).events(0.0, 1.0)
    got = []
    with pytest.raises(ReplayError) as err:
        for ev in events:
            got.append(ev)
    assert err.value.reason == "nonfinite_vector"
    assert len(got) == 20  # episodes 0 and 1 complete; nothing of the broken episode 2


def test_bit_flipped_record_stops_the_replay_with_a_crc_error(data_dir: Path, tmp_path: Path) -> None:
    data = bytearray((data_dir / BRIDGE).read_bytes())
    offset = 0
    for _ in range(3):  # skip three records
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        offset += length + 16
    data[offset + 12 + 100] ^= 0x10
    bad = tmp_path / "flip.tfrecord"
    bad.write_bytes(bytes(data))
    got = []
    with pytest.raises(ReplayError) as err:
        for ev in RldsTfrecordSource(bad, RecordingMedia(), LimitsConfig()).events(0.0, 1.0):
            got.append(ev)
    assert err.value.reason == "tfrecord_bad_crc"
    assert len(got) == 30


def test_vector_length_cap(data_dir: Path) -> None:
    src = RldsTfrecordSource(data_dir / BRIDGE, RecordingMedia(), LimitsConfig(max_vector_len=6))
    with pytest.raises(ReplayError) as err:
        next(src.events(0.0, 1.0))
    assert err.value.reason == "vector_too_long"


def test_image_pixel_cap(data_dir: Path) -> None:
    src = RldsTfrecordSource(data_dir / BRIDGE, RecordingMedia(), LimitsConfig(max_image_pixels=32 * 32))
    with pytest.raises(ReplayError) as err:
        next(src.events(0.0, 1.0))
    assert err.value.reason == "image_too_large"


def test_a_second_pass_replays_only_the_named_recordings_under_new_keys(data_dir: Path) -> None:
    """The demo's second pass: `keys` picks recordings, a round above 0 suffixes their keys (new windows, not
    late events) in the records too, and nothing else is sent."""
    from streaming.replay.runner import _merged
    from streaming.settings import TailorSettings

    source = RldsTfrecordSource(data_dir / BRIDGE, RecordingMedia(), LimitsConfig())
    keys = sorted({ev.key for ev in source.events(T0, 1.0)})
    picked = frozenset(keys[1:3])
    events = list(_merged([source], T0, 0.0, 1, TailorSettings(), picked))
    assert {ev.key for ev in events} == {k + "-r1" for k in picked}
    assert {ev.record.episode_id for ev in events} == {k + "-r1" for k in picked}  # type: ignore[union-attr]
    assert len(events) == 20  # two episodes of 10 steps
    assert {ev.key for ev in _merged([source], T0, 0.0, 0, TailorSettings(), picked)} == set(picked)
