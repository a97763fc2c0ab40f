"""Open a ROS bag with rosbags: rosbag2 folders (sqlite3 or MCAP storage), bare `.mcap` / `.db3` files, ROS 1 bags.

A bag rosbags refuses at open (an MCAP file cut before its footer, a `.db3` copy cut short) is read by
scanning instead (`rosbag_salvage`), so the messages before the damage are not lost; the scan ends with a
ReplayError at the damage. Any failure while reading becomes a ReplayError naming the bag.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from streaming.replay.base import ReplayError
from streaming.replay.rosbag_messages import normalize_type

log = logging.getLogger(__name__)

MCAP_MAGIC = b"\x89MCAP0\r\n"
SQLITE_MAGIC = b"SQLite format 3\x00"
ROS1_MAGIC = b"#ROSBAG V2.0\n"


class Bag(ABC):
    """The topics of one bag and its messages in log-time order (file order when salvaged)."""

    storage: str
    topics: dict[str, str]
    """topic -> message type (`sensor_msgs/msg/Image`)."""
    salvaged: str | None = None
    """Why rosbags refused the bag, when it is read by scanning."""

    @abstractmethod
    def messages(self) -> Iterator[tuple[str, int, bytes]]:
        """(topic, log time in ns, serialized message); ReplayError where the bag is damaged."""

    @abstractmethod
    def deserialize(self, raw: bytes, topic: str) -> Any:
        """The message object; ReplayError for bytes that do not decode as the topic's type."""


class RosbagsBag(Bag):
    def __init__(self, path: Path, reader: AnyReader) -> None:
        self.path = path
        self.reader = reader
        self.storage = "ros1" if not reader.is2 else _storage_of(path)
        self._types: dict[str, str] = {}  # the bag's own type name, for rosbags' deserializer
        for conn in reader.connections:
            if self._types.setdefault(conn.topic, conn.msgtype) != conn.msgtype:
                raise ReplayError(
                    "unsupported_bag",
                    f"{path}: topic {conn.topic} has two message types, {self._types[conn.topic]} and "
                    f"{conn.msgtype}",
                )
        self.topics = {topic: normalize_type(t) for topic, t in self._types.items()}

    def messages(self) -> Iterator[tuple[str, int, bytes]]:
        count = 0
        try:
            for conn, log_ns, raw in self.reader.messages():
                yield conn.topic, log_ns, raw
                count += 1
        except Exception as exc:  # rosbags raises its own errors, struct.error, apsw errors ...
            raise ReplayError(
                "corrupt_bag", f"{self.path}: damaged after {count} messages: {type(exc).__name__}: {exc}"
            ) from None

    def deserialize(self, raw: bytes, topic: str) -> Any:
        try:
            return self.reader.deserialize(raw, self._types[topic])
        except Exception as exc:
            raise ReplayError(
                "corrupt_message", f"{self.path}: a {self._types[topic]} message of {topic}: {exc}"
            ) from None


def _storage_of(path: Path) -> str:
    if path.is_dir():
        return "rosbag2"
    return {".mcap": "mcap", ".db3": "sqlite3"}.get(path.suffix, path.suffix)


def looks_like_bag(path: Path) -> bool:
    """A rosbag2 folder (metadata.yaml), or an `.mcap` / `.db3` / `.bag` file with that format's magic."""
    if path.is_dir():
        meta = path / "metadata.yaml"
        try:
            return meta.is_file() and "rosbag2_bagfile_information" in meta.read_text(errors="replace")[:4096]
        except OSError:
            return False
    magic = {".mcap": MCAP_MAGIC, ".db3": SQLITE_MAGIC, ".bag": ROS1_MAGIC}.get(path.suffix.lower())
    if magic is None or not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            return fh.read(len(magic)) == magic
    except OSError:
        return False


@contextmanager
def open_bag(path: Path) -> Iterator[Bag]:
    """The bag at `path`, by rosbags or, where rosbags refuses it, by the salvage scan."""
    from streaming.replay.rosbag_salvage import salvage

    is_ros1 = path.is_file() and path.suffix.lower() == ".bag"
    store = get_typestore(Stores.ROS1_NOETIC if is_ros1 else Stores.ROS2_HUMBLE)
    try:
        reader = AnyReader([path], default_typestore=store)
        reader.open()
    except Exception as exc:  # any parse failure of an untrusted file: say which file and why
        why = f"{type(exc).__name__}: {exc}"
        scan = salvage(path, why)
        if scan is None:
            hint = " (an unindexed ROS 1 bag: run `rosbag reindex` on it)" if is_ros1 else ""
            raise ReplayError("unreadable_bag", f"{path}: {why}{hint}") from None
        log.warning("%s: rosbags refused it (%s); reading it by scanning", path, why)
        yield scan
        return
    try:
        yield RosbagsBag(path, reader)
    finally:
        reader.close()
