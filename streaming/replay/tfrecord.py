"""TFRecord container and `tf.train.Example` parsing without TensorFlow.

Container: each record is `uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)`
(little endian). The length CRC is always checked (a wrong length must never drive a huge read); the
data CRC is checked when asked (pure Python, about 0.1 s per MB).

Payload: a `tf.train.Example` protobuf, read with a small wire-format reader:
  Example { Features features = 1; }
  Features { map<string, Feature> feature = 1; }   (map entry: key = 1, value = 2)
  Feature { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
  BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1 [packed]; }
  Int64List { repeated int64 value = 1 [packed]; }
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from streaming.replay.base import ReplayError

FeatureValue = list[bytes] | np.ndarray
"""bytes_list -> list[bytes]; float_list -> float32 array; int64_list -> int64 array."""

_MASK_DELTA = 0xA282EAD8
_TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords")


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), table driven."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def looks_like_tfrecord(path: Path) -> bool:
    """Name ends in / contains `.tfrecord`, or the first header's length CRC checks out."""
    name = path.name.lower()
    if any(name.endswith(s) or f"{s}-" in name for s in _TFRECORD_SUFFIXES):
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    if len(head) < 12:
        return False
    (crc,) = struct.unpack("<I", head[8:12])
    return masked_crc32c(head[:8]) == crc


def read_records(path: Path, *, verify_data_crc: bool, max_record_bytes: int) -> Iterator[bytes]:
    """Yield each record's payload; raise ReplayError on a bad CRC, a truncated or oversized record."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise ReplayError("unreadable", f"{path}: {exc}") from None
    with fh:
        yield from _records(fh, path, verify_data_crc, max_record_bytes)


def _records(fh: BinaryIO, path: Path, verify: bool, max_bytes: int) -> Iterator[bytes]:
    index = 0
    while True:
        header = fh.read(12)
        if not header:
            if index == 0:
                raise ReplayError("empty_file", f"{path} holds no TFRecord records")
            return
        if len(header) < 12:
            raise ReplayError(
                "tfrecord_truncated", f"{path}: record {index} header cut at {len(header)} bytes"
            )
        length, length_crc = struct.unpack("<QI", header)
        if masked_crc32c(header[:8]) != length_crc:
            raise ReplayError("tfrecord_bad_crc", f"{path}: record {index} length CRC mismatch")
        if length > max_bytes:
            raise ReplayError("tfrecord_record_too_large", f"{path}: record {index} is {length} bytes")
        data = fh.read(length)
        footer = fh.read(4)
        if len(data) < length or len(footer) < 4:
            raise ReplayError("tfrecord_truncated", f"{path}: record {index} cut short")
        if verify and masked_crc32c(data) != struct.unpack("<I", footer)[0]:
            raise ReplayError("tfrecord_bad_crc", f"{path}: record {index} data CRC mismatch")
        yield data
        index += 1


class _Reader:
    """Protobuf wire format over one buffer: varints, fixed 32/64, length-delimited fields."""

    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.buf)

    def varint(self) -> int:
        result = shift = 0
        buf = self.buf
        while True:
            if self.pos >= len(buf):
                raise ReplayError("bad_protobuf", "varint runs past the end of the message")
            byte = buf[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ReplayError("bad_protobuf", "varint longer than 10 bytes")

    def tag(self) -> tuple[int, int]:
        key = self.varint()
        return key >> 3, key & 7

    def chunk(self) -> memoryview:
        n = self.varint()
        end = self.pos + n
        if end > len(self.buf):
            raise ReplayError("bad_protobuf", f"field of {n} bytes runs past the end of the message")
        out = self.buf[self.pos : end]
        self.pos = end
        return out

    def skip(self, wire: int) -> None:
        if wire == 0:
            self.varint()
        elif wire == 1:
            self.pos += 8
        elif wire == 2:
            self.chunk()
        elif wire == 5:
            self.pos += 4
        else:
            raise ReplayError("bad_protobuf", f"unsupported wire type {wire}")
        if self.pos > len(self.buf):
            raise ReplayError("bad_protobuf", "fixed-width field runs past the end of the message")


def parse_example(data: bytes) -> dict[str, FeatureValue]:
    """Features of one serialized `tf.train.Example`, by name."""
    out: dict[str, FeatureValue] = {}
    top = _Reader(memoryview(data))
    while not top.done():
        field, wire = top.tag()
        if field != 1 or wire != 2:
            top.skip(wire)
            continue
        features = _Reader(top.chunk())
        while not features.done():
            f_field, f_wire = features.tag()
            if f_field != 1 or f_wire != 2:
                features.skip(f_wire)
                continue
            name, value = _map_entry(_Reader(features.chunk()))
            out[name] = value
    return out


def _map_entry(entry: _Reader) -> tuple[str, FeatureValue]:
    name = ""
    value: FeatureValue = []
    while not entry.done():
        field, wire = entry.tag()
        if field == 1 and wire == 2:
            try:
                name = bytes(entry.chunk()).decode("utf-8")
            except UnicodeDecodeError:
                raise ReplayError("bad_protobuf", "feature name is not UTF-8") from None
        elif field == 2 and wire == 2:
            value = _feature(_Reader(entry.chunk()))
        else:
            entry.skip(wire)
    return name, value


def _feature(feature: _Reader) -> FeatureValue:
    value: FeatureValue = []
    while not feature.done():
        field, wire = feature.tag()
        if wire != 2 or field not in (1, 2, 3):
            feature.skip(wire)
        elif field == 1:
            value = _bytes_list(_Reader(feature.chunk()))
        elif field == 2:
            value = _float_list(_Reader(feature.chunk()))
        else:
            value = _int64_list(_Reader(feature.chunk()))
    return value


def _bytes_list(reader: _Reader) -> list[bytes]:
    values = []
    while not reader.done():
        field, wire = reader.tag()
        if field == 1 and wire == 2:
            values.append(bytes(reader.chunk()))
        else:
            reader.skip(wire)
    return values


def _float_list(reader: _Reader) -> np.ndarray:
    parts: list[np.ndarray] = []
    while not reader.done():
        field, wire = reader.tag()
        if field == 1 and wire == 2:  # packed
            raw = reader.chunk()
            if len(raw) % 4:
                raise ReplayError("bad_protobuf", "packed float list is not a multiple of 4 bytes")
            parts.append(np.frombuffer(raw, dtype="<f4"))
        elif field == 1 and wire == 5:  # unpacked
            start = reader.pos
            reader.skip(5)
            parts.append(np.frombuffer(reader.buf[start : reader.pos], dtype="<f4"))
        else:
            reader.skip(wire)
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def _int64_list(reader: _Reader) -> np.ndarray:
    values: list[int] = []
    while not reader.done():
        field, wire = reader.tag()
        if field == 1 and wire == 2:  # packed
            packed = _Reader(reader.chunk())
            while not packed.done():
                values.append(_signed(packed.varint()))
        elif field == 1 and wire == 0:
            values.append(_signed(reader.varint()))
        else:
            reader.skip(wire)
    return np.array(values, dtype=np.int64)


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v
