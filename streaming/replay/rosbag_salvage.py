"""Read what is left of a damaged bag that rosbags refuses to open, up to the damage.

The usual damage is a recording cut short (the recorder was killed, a copy stopped half way):

- an MCAP file then lacks its summary and footer, and rosbags reads MCAP from the footer. The scan
  here walks the data section record by record (schemas, channels, messages, chunks) and stops at the
  first record that is cut or does not check out;
- a `.db3` file cut short is refused by SQLite as malformed. With `writable_schema` on, SQLite opens it
  anyway (its header claims more pages than the file has), and the messages table is read in insertion
  order until the first missing page.

Both scans end with a ReplayError at the damage, after yielding every message before it. ROS 1 bags,
compressed rosbag2 files and other storage are not scanned (None): the caller reports rosbags' error.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lz4 import frame as lz4_frame
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from core.errors import TailorError
from streaming.replay.base import ReplayError
from streaming.replay.rosbag_io import MCAP_MAGIC, SQLITE_MAGIC, Bag
from streaming.replay.rosbag_messages import normalize_type

if sys.version_info >= (3, 14):
    from compression import zstd
else:  # rosbags depends on the backport there
    from backports import zstd

log = logging.getLogger(__name__)

_SCHEMA, _CHANNEL, _MESSAGE, _CHUNK, _DATA_END, _FOOTER = 0x03, 0x04, 0x05, 0x06, 0x0F, 0x02
_IDL_SEPARATOR = "=" * 80 + "\n"


def salvage(path: Path, why: str) -> Bag | None:
    """A scanning reader for the bag's storage files, or None when they cannot be scanned."""
    files = _storage_files(path)
    if not files:
        return None
    magics = {_magic(f) for f in files}
    if magics == {MCAP_MAGIC}:
        # other MCAP profiles (protobuf, JSON ...) are not ROS messages: rosbags' refusal stands
        return McapScan(path, files, why) if all(_mcap_profile(f) == "ros2" for f in files) else None
    if magics == {SQLITE_MAGIC}:
        return SqliteScan(path, files, why)
    return None


def _storage_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if path.suffix.lower() in (".mcap", ".db3") else []
    # a rosbag2 folder: its files sort in recording order (<name>_0.mcap, <name>_1.mcap, ...)
    mcap, db3 = sorted(path.glob("*.mcap")), sorted(path.glob("*.db3"))
    return mcap if mcap and not db3 else db3 if db3 and not mcap else []


def _magic(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError:
        return b""
    return next((m for m in (MCAP_MAGIC, SQLITE_MAGIC) if head.startswith(m)), b"")


def _mcap_profile(path: Path) -> str | None:
    """The profile of the MCAP header record, None when the header is not there."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8 + 9 + 4 + 64)
        if head[8] != 0x01:
            return None
        return _string(memoryview(head), 17)[0]
    except (OSError, IndexError, struct.error, UnicodeDecodeError):
        return None


def typestore_of(definitions: list[tuple[str, str, str]]) -> Typestore:
    """A typestore of the bag's own definitions (type, encoding, text); the ROS 2 Humble types if none."""
    found = [(t, e, d) for t, e, d in definitions if e in ("ros2msg", "ros2idl", "omgidl") and d]
    if not found:
        return get_typestore(Stores.ROS2_HUMBLE)
    types: dict[str, Any] = {}
    for name, encoding, text in found:
        if encoding == "ros2msg":
            types.update(get_types_from_msg(text, name))
        elif text.startswith(f"{_IDL_SEPARATOR}IDL: "):  # several IDL files in one definition
            for part in text.split(_IDL_SEPARATOR)[1:]:
                types.update(get_types_from_idl(part.split("\n", 1)[1]))
        else:
            types.update(get_types_from_idl(text))
    store = get_typestore(Stores.EMPTY)
    store.register(types)
    return store


class _ScanBag(Bag):
    def __init__(self, path: Path, why: str) -> None:
        self.path = path
        self.salvaged = why
        self.store: Typestore = get_typestore(Stores.EMPTY)

    def deserialize(self, raw: bytes, topic: str) -> Any:
        try:
            return self.store.deserialize_cdr(raw, self.topics[topic])
        except Exception as exc:
            raise ReplayError(
                "corrupt_message", f"{self.path}: a {self.topics[topic]} message of {topic}: {exc}"
            ) from None


class _Cut(TailorError):
    """Where an MCAP scan stops: byte offset in the file and what was wrong there."""

    def __init__(self, offset: int, detail: str) -> None:
        super().__init__("truncated_bag", detail, detail)
        self.offset = offset


class McapScan(_ScanBag):
    """MCAP files walked from the start; two passes (topics first, then messages), as steps need every topic."""

    storage = "mcap"

    def __init__(self, path: Path, files: list[Path], why: str) -> None:
        super().__init__(path, why)
        self.files = files
        schemas: dict[tuple[int, int], tuple[str, str, str]] = {}
        channels: dict[tuple[int, int], tuple[str, int]] = {}
        try:
            for n, f in enumerate(files):
                for op, body in _records(f):
                    if op == _SCHEMA:
                        sid, name, encoding, data = _schema(body)
                        schemas[(n, sid)] = (name, encoding, data)
                    elif op == _CHANNEL:
                        cid, sid, topic = _channel(body)
                        channels[(n, cid)] = (topic, sid)
        except (_Cut, struct.error, UnicodeDecodeError):
            pass  # the second pass stops at the same place and reports it
        self.channels = {key: topic for key, (topic, _) in channels.items()}
        self.topics = {}
        for (n, _), (topic, sid) in channels.items():
            name = schemas.get((n, sid), ("", "", ""))[0]
            self.topics[topic] = normalize_type(name) if name else "__schemaless__"
        try:
            self.store = typestore_of(list(schemas.values()))
        except Exception as exc:
            raise ReplayError("unreadable_bag", f"{path}: message definitions: {exc}") from None

    def messages(self) -> Iterator[tuple[str, int, bytes]]:
        count = 0
        for n, f in enumerate(self.files):
            try:
                for op, body in _records(f):
                    if op == _MESSAGE:
                        cid, log_ns = struct.unpack_from("<H4xQ", body)
                        topic = self.channels.get((n, cid))
                        if topic is None:
                            raise _Cut(-1, f"message on channel {cid}, which no channel record declared")
                        yield topic, log_ns, bytes(body[22:])
                        count += 1
            except (_Cut, struct.error, UnicodeDecodeError) as exc:
                where = f" at byte {exc.offset}" if isinstance(exc, _Cut) and exc.offset >= 0 else ""
                raise ReplayError(
                    "truncated_bag",
                    f"{f}: {exc}{where}; read {count} messages before it (rosbags: {self.salvaged})",
                ) from None
        log.warning("%s: %d messages read by scanning; the data section is complete", self.path, count)


def _records(path: Path) -> Iterator[tuple[int, memoryview]]:
    """(opcode, body) of the data section's records, chunks opened; _Cut where the file stops making sense."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if fh.read(8) != MCAP_MAGIC:
            raise _Cut(0, "no MCAP magic")
        while True:
            pos = fh.tell()
            head = fh.read(9)
            if not head:
                raise _Cut(pos, "the file ends without the data-end record and footer (cut short)")
            if len(head) < 9:
                raise _Cut(pos, "the file ends inside a record header (cut short)")
            op, length = head[0], struct.unpack_from("<Q", head, 1)[0]
            if length > size - pos - 9:
                raise _Cut(pos, f"a record of {length} bytes with {size - pos - 9} left (cut short)")
            body = memoryview(fh.read(length))
            if op in (_DATA_END, _FOOTER):
                return
            if op == _CHUNK:
                yield from _chunk(body, pos)
            else:
                yield op, body


def _chunk(body: memoryview, pos: int) -> Iterator[tuple[int, memoryview]]:
    try:
        _, _, raw_size, crc = struct.unpack_from("<QQQI", body)
        compression, at = _string(body, 28)
        (length,) = struct.unpack_from("<Q", body, at)
        packed = bytes(body[at + 8 : at + 8 + length])
        if len(packed) != length:
            raise _Cut(pos, "chunk records overrun the chunk")
        data = _decompress(packed, compression, raw_size, pos)
    except (struct.error, UnicodeDecodeError) as exc:
        raise _Cut(pos, f"bad chunk record: {exc}") from None
    if crc and zlib.crc32(data) != crc:
        raise _Cut(pos, "chunk CRC mismatch")
    inner = memoryview(data)
    at = 0
    while at < len(inner):
        if at + 9 > len(inner):
            raise _Cut(pos, "a record inside a chunk is cut")
        op, length = inner[at], struct.unpack_from("<Q", inner, at + 1)[0]
        if at + 9 + length > len(inner):
            raise _Cut(pos, "a record inside a chunk overruns it")
        yield op, inner[at + 9 : at + 9 + length]
        at += 9 + length


def _decompress(packed: bytes, compression: str, raw_size: int, pos: int) -> bytes:
    try:
        if compression == "":
            data = packed
        elif compression == "zstd":
            data = zstd.decompress(packed)
        elif compression == "lz4":
            data = lz4_frame.decompress(packed)
        else:
            raise _Cut(pos, f"chunk compression {compression!r} is not supported")
    except (zstd.ZstdError, RuntimeError, ValueError) as exc:
        raise _Cut(pos, f"chunk does not decompress: {exc}") from None
    if len(data) != raw_size:
        raise _Cut(pos, f"chunk holds {len(data)} bytes, its header says {raw_size}")
    return data


def _string(buf: memoryview, at: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<I", buf, at)
    if at + 4 + n > len(buf):
        raise struct.error("string overruns its record")
    return bytes(buf[at + 4 : at + 4 + n]).decode("utf-8"), at + 4 + n


def _schema(body: memoryview) -> tuple[int, str, str, str]:
    (sid,) = struct.unpack_from("<H", body)
    name, at = _string(body, 2)
    encoding, at = _string(body, at)
    data, _ = _string(body, at)
    return sid, name, encoding, data


def _channel(body: memoryview) -> tuple[int, int, str]:
    cid, sid = struct.unpack_from("<HH", body)
    topic, _ = _string(body, 4)
    return cid, sid, topic


class SqliteScan(_ScanBag):
    """`.db3` files read in insertion order; SQLite's `writable_schema` lets it open a file cut short."""

    storage = "sqlite3"

    def __init__(self, path: Path, files: list[Path], why: str) -> None:
        super().__init__(path, why)
        self.files = files
        self.topics = {}
        self.ids: list[dict[int, str]] = []
        definitions: list[tuple[str, str, str]] = []
        for f in files:
            try:
                with _connect(f) as db:
                    rows = db.execute("SELECT id, name, type FROM topics").fetchall()
                    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                    if "message_definitions" in names:  # rosbag2 schema 4 and later
                        definitions += db.execute(
                            "SELECT topic_type, encoding, encoded_message_definition FROM message_definitions"
                        ).fetchall()
            except sqlite3.Error as exc:
                raise ReplayError("unreadable_bag", f"{f}: {exc} (rosbags: {why})") from None
            self.ids.append({int(i): str(name) for i, name, _ in rows})
            self.topics.update({str(name): normalize_type(str(t)) for _, name, t in rows})
        try:
            self.store = typestore_of(definitions)
        except Exception as exc:
            raise ReplayError("unreadable_bag", f"{path}: message definitions: {exc}") from None

    def messages(self) -> Iterator[tuple[str, int, bytes]]:
        count = 0
        for f, ids in zip(self.files, self.ids, strict=True):
            with _connect(f) as db:
                try:
                    for topic_id, log_ns, data in db.execute(
                        "SELECT topic_id, timestamp, data FROM messages ORDER BY id"
                    ):
                        if topic_id not in ids:
                            raise ReplayError("corrupt_bag", f"{f}: a message of unknown topic id {topic_id}")
                        yield ids[topic_id], int(log_ns), bytes(data)
                        count += 1
                except sqlite3.Error as exc:
                    raise ReplayError(
                        "truncated_bag",
                        f"{f}: {exc} after {count} messages (rosbags: {self.salvaged})",
                    ) from None
        log.warning("%s: %d messages read by scanning; no damage found in them", self.path, count)


class _connect:
    """A read-only SQLite connection that opens a file shorter than its header says."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        self.db.execute("PRAGMA writable_schema=ON")

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc: object) -> None:
        self.db.close()
