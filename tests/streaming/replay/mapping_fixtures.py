"""Renamed copies of real episodes for the `--mapping` tests: Bridge TFRecords with other feature names,
UMI LeRobot folders with other column and video key names. Values, images and videos stay byte for byte."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from streaming.replay.tfrecord import FeatureValue, masked_crc32c, parse_example, read_records
from tests.streaming.replay.lerobot_fixtures import umi_table, write_arrow_copy


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 as its two's complement, as protobuf does
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_example(features: dict[str, FeatureValue]) -> bytes:
    """A `tf.train.Example` (the inverse of tfrecord.parse_example: same lists, same float32 bits)."""
    entries = b""
    for name, value in features.items():
        if isinstance(value, list):
            feature = _field(1, b"".join(_field(1, v) for v in value))
        elif value.dtype == np.float32:
            feature = _field(2, _field(1, value.astype("<f4").tobytes()))
        else:
            feature = _field(3, _field(1, b"".join(_varint(int(v)) for v in value)))
        entries += _field(1, _field(1, name.encode()) + _field(2, feature))
    return _field(1, entries)


def write_tfrecord(path: Path, payloads: list[bytes]) -> Path:
    with path.open("wb") as fh:
        for data in payloads:
            length = struct.pack("<Q", len(data))
            fh.write(length + struct.pack("<I", masked_crc32c(length)))
            fh.write(data + struct.pack("<I", masked_crc32c(data)))
    return path


RLDS_RENAMES = {
    "steps/observation/state": "steps/obs/proprio",
    "steps/observation/image_0": "steps/obs/cam_over_shoulder",
    "steps/observation/image_1": "steps/obs/cam_side",
    "steps/observation/image_2": "steps/obs/cam_front",
    "steps/observation/image_3": "steps/obs/cam_spare",
    "steps/language_instruction": "steps/task/text",
    "steps/is_first": "steps/start",
    "steps/is_last": "steps/end",
}


def renamed_bridge(src: Path, dest: Path, episodes: int) -> Path:
    """The first `episodes` Bridge episodes with RLDS_RENAMES applied and `steps/action` split into
    `steps/ctrl/arm` (6) and `steps/ctrl/gripper` (1), as another team's layout might be."""
    payloads = []
    for index, record in enumerate(read_records(src, verify_data_crc=False, max_record_bytes=1 << 28)):
        if index == episodes:
            break
        features = parse_example(record)
        out: dict[str, FeatureValue] = {}
        for name, value in features.items():
            if name == "steps/action":
                assert isinstance(value, np.ndarray)
                per_step = value.reshape(-1, 7)
                out["steps/ctrl/arm"] = per_step[:, :6].reshape(-1)
                out["steps/ctrl/gripper"] = per_step[:, 6].copy()
            else:
                out[RLDS_RENAMES.get(name, name)] = value
        payloads.append(encode_example(out))
    return write_tfrecord(dest, payloads)


def first_episodes(src: Path, dest: Path, episodes: int) -> Path:
    """The first `episodes` records of `src` as they are (the original to compare a renamed copy with)."""
    records = read_records(src, verify_data_crc=False, max_record_bytes=1 << 28)
    return write_tfrecord(dest, [r for _, r in zip(range(episodes), records, strict=False)])


ARROW_RENAMES = {
    "observation.state": "obs.pose",
    "gripper_width": "grip.width",
    "observation.image": "cam.hand",
    "timestamp": "t",
    "episode_index": "ep",
    "frame_index": "fi",
}


def renamed_umi_arrow(umi: Path, dest: Path) -> Path:
    """The UMI early-layout folder with ARROW_RENAMES applied to its arrow columns."""
    table = umi_table(umi)
    return write_arrow_copy(
        umi, dest, table.rename_columns([ARROW_RENAMES.get(c, c) for c in table.column_names])
    )


PARQUET_RENAMES = {
    "observation.state": "obs.joints",
    "timestamp": "t",
    "frame_index": "fi",
    "task_index": "task",
}


def renamed_v2(v2: Path, dest: Path) -> Path:
    """A copy of a v2.1 folder (lerobot_fixtures.build_v2) whose columns follow PARQUET_RENAMES, whose
    action is split into `act.arm` (6) and `act.grip` (1), and whose video key is `cam.wrist`."""
    shutil.copytree(v2, dest)
    for file in (dest / "data").rglob("*.parquet"):
        table = pq.read_table(file)
        action = np.asarray(table.column("action").to_pylist(), np.float32)
        table = table.drop_columns(["action"]).rename_columns(
            [PARQUET_RENAMES.get(c, c) for c in table.column_names if c != "action"]
        )
        table = table.append_column("act.arm", pa.array(action[:, :6].tolist(), pa.list_(pa.float32(), 6)))
        table = table.append_column("act.grip", pa.array(action[:, 6:].tolist(), pa.list_(pa.float32(), 1)))
        pq.write_table(table, file)
    for video in list((dest / "videos").rglob("observation.image")):
        video.rename(video.with_name("cam.wrist"))
    info = json.loads((dest / "meta/info.json").read_text())
    features = info["features"]
    names = features.pop("action")["names"]["motors"]
    features["act.arm"] = {"dtype": "float32", "shape": [6], "names": names[:6]}
    features["act.grip"] = {"dtype": "float32", "shape": [1], "names": names[6:]}
    features["cam.wrist"] = features.pop("observation.image")
    info["features"] = {PARQUET_RENAMES.get(k, k): v for k, v in features.items()}
    (dest / "meta/info.json").write_text(json.dumps(info))
    return dest
