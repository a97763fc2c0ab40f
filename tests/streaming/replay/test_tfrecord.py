"""TFRecord container and tf.train.Example parsing, on the real Bridge file and on damaged copies."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from streaming.replay.base import ReplayError
from streaming.replay.tfrecord import crc32c, looks_like_tfrecord, masked_crc32c, parse_example, read_records

BRIDGE = Path("robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001")


def _records(path: Path, verify: bool = True) -> list[bytes]:
    return list(read_records(path, verify_data_crc=verify, max_record_bytes=1 << 28))


def _varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        if v:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_crc32c_known_vectors() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 bytes of zeros


def test_reads_all_bridge_records_with_valid_crcs(data_dir: Path) -> None:
    path = data_dir / BRIDGE
    assert looks_like_tfrecord(path)
    records = _records(path)
    assert len(records) == 25
    # the records tile the file exactly: 16 bytes of framing each
    assert sum(len(r) + 16 for r in records) == path.stat().st_size


def test_parses_bridge_example_features(data_dir: Path) -> None:
    example = parse_example(_records(data_dir / BRIDGE)[0])
    action = example["steps/action"]
    assert isinstance(action, np.ndarray) and action.dtype == np.float32 and action.shape == (70,)
    is_first = example["steps/is_first"]
    assert isinstance(is_first, np.ndarray) and is_first.tolist() == [1] + [0] * 9
    images = example["steps/observation/image_0"]
    assert (
        isinstance(images, list) and len(images) == 10 and all(i.startswith(b"\xff\xd8\xff") for i in images)
    )
    text = example["steps/language_instruction"]
    assert isinstance(text, list) and text[0] == b"put cup from counter or drying rack into sink"
    assert len(example["steps/language_embedding"]) == 5120


def test_parses_unpacked_floats_and_negative_int64() -> None:
    floats = b"".join(_varint(1 << 3 | 5) + struct.pack("<f", v) for v in (1.5, -2.0))  # unpacked
    ints = _field(1, b"".join(_varint(v) for v in (-3, 7)))  # packed, negative as 10-byte varint
    feature_f = _field(2, floats)
    feature_i = _field(3, ints)
    features = _field(1, _field(1, b"f") + _field(2, feature_f)) + _field(
        1, _field(1, b"i") + _field(2, feature_i)
    )
    example = parse_example(_field(1, features))
    assert np.asarray(example["f"]).tolist() == [1.5, -2.0]
    assert np.asarray(example["i"]).tolist() == [-3, 7]


def test_bit_flip_in_payload_fails_crc(data_dir: Path, tmp_path: Path) -> None:
    data = bytearray((data_dir / BRIDGE).read_bytes())
    data[5000] ^= 0x01  # inside record 0's payload
    bad = tmp_path / "flipped.tfrecord"
    bad.write_bytes(bytes(data))
    with pytest.raises(ReplayError) as err:
        _records(bad)
    assert err.value.reason == "tfrecord_bad_crc"
    # without payload CRCs the flip goes unnoticed: the check is what catches it
    assert len(_records(bad, verify=False)) == 25


def test_corrupt_length_is_caught_by_length_crc(data_dir: Path, tmp_path: Path) -> None:
    data = bytearray((data_dir / BRIDGE).read_bytes())
    data[3] ^= 0x40  # the first length becomes huge
    bad = tmp_path / "length.tfrecord"
    bad.write_bytes(bytes(data))
    with pytest.raises(ReplayError) as err:
        _records(bad)
    assert err.value.reason == "tfrecord_bad_crc"


def test_truncated_and_empty_files(data_dir: Path, tmp_path: Path) -> None:
    data = (data_dir / BRIDGE).read_bytes()
    cut = tmp_path / "cut.tfrecord"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReplayError) as err:
        _records(cut)
    assert err.value.reason == "tfrecord_truncated"
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    with pytest.raises(ReplayError) as err:
        _records(empty)
    assert err.value.reason == "empty_file"


def test_oversized_record_is_refused_before_reading(data_dir: Path) -> None:
    with pytest.raises(ReplayError) as err:
        list(read_records(data_dir / BRIDGE, verify_data_crc=False, max_record_bytes=1000))
    assert err.value.reason == "tfrecord_record_too_large"


def test_masked_crc_matches_the_file_header(data_dir: Path) -> None:
    head = (data_dir / BRIDGE).read_bytes()[:12]
    assert struct.unpack("<I", head[8:12])[0] == masked_crc32c(head[:8])


def test_garbage_is_not_parsed_as_protobuf() -> None:
    with pytest.raises(ReplayError) as err:
        parse_example(b"\x0a\xff\xff\xff\xff\x0f")  # a length far past the end
    assert err.value.reason == "bad_protobuf"
