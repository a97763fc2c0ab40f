"""Window state: per-key headers and per-item entries in a changelogged key-value map, with indexes.

The map (`data`) holds the entries that are written to the changelog; the indexes beside it (decoded
headers, item keys per key and window number, open and finished keys per domain) make every
per-event and per-sweep operation touch only the key concerned, never the whole map. The indexes are
rebuilt from the map when it is replaced from outside (changelog recovery, revoked partitions), which
a map signals by changing its `generation` attribute.
"""

from __future__ import annotations

import copy
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class Header:
    """Fixed-size state of one key: the open window and what was already closed."""

    seq: int = 0
    partition: int = 0
    count: int = 0
    first_offset: int = -1
    last_offset: int = -1
    first_time: float = 0.0
    last_time: float = 0.0
    last_seen_wall: float = 0.0
    last_seen_final_wall: float = 0.0
    last_closed_index: int = -1
    max_index: int = -1
    first_index: int = -1
    topic: str = ""
    last_closed_offset: int = (
        -1
    )  # newest source offset in a closed window: a redelivery at or below it is skipped
    state_bytes: int = 0  # state bytes of the open window's entries (closes it at `window_max_key_bytes`)

    def dumps(self) -> bytes:
        return json.dumps(self.__dict__).encode()  # flat fields: no recursive asdict per event

    @classmethod
    def loads(cls, data: bytes) -> Header:
        return cls(**json.loads(data))


class ChangeLog(ABC):
    """Where state changes go besides the local map (the table's changelog topic)."""

    @abstractmethod
    def record(self, partition: int, key: bytes, value: bytes | None) -> None: ...


Name = tuple[str, str]  # (domain, key)
_UNBUILT = object()


def _parse(k: bytes) -> tuple[str, Name, int] | None:
    """('h' | 'i', (domain, key), window number or -1) of a state key; None for anything else."""
    if k.startswith(b"h|"):
        _h, domain, key = k.decode().split("|", 2)
        return "h", (domain, key), -1
    if k.startswith(b"i|"):
        head, seq, _index = k.decode().rsplit("|", 2)
        _i, domain, key = head.split("|", 2)
        return "i", (domain, key), int(seq)
    return None


class WindowState:
    """Header and item entries in a key-value map whose changes are sent to a changelog."""

    def __init__(self, data: MutableMapping[bytes, bytes], changelog: ChangeLog) -> None:
        self.data = data
        self.changelog = changelog
        self._generation: object = _UNBUILT  # the first use builds the indexes
        self._headers: dict[Name, Header] = {}
        self._items: dict[Name, dict[int, set[bytes]]] = {}
        self._open: dict[str, set[str]] = {}
        self._finished: dict[str, dict[str, None]] = {}  # insertion order: oldest finished first
        self._item_bytes = 0  # bytes of every item entry held (all keys, open or being closed)

    @staticmethod
    def header_key(domain: str, key: str) -> bytes:
        return f"h|{domain}|{key}".encode()

    @staticmethod
    def item_key(domain: str, key: str, seq: int, index: int) -> bytes:
        return f"i|{domain}|{key}|{seq:010d}|{index:012d}".encode()

    # -- indexes ---------------------------------------------------------------------------------

    def _sync(self) -> None:
        generation = getattr(self.data, "generation", None)
        if self._generation is not _UNBUILT and generation == self._generation:
            return
        self._rebuild()
        self._generation = generation

    def _rebuild(self) -> None:
        self._headers, self._items, self._open, self._finished = {}, {}, {}, {}
        self._item_bytes = 0
        headers: list[tuple[Name, Header]] = []
        for k, v in list(self.data.items()):
            parsed = _parse(k)
            if parsed is None:
                continue
            kind, name, seq = parsed
            if kind == "h":
                headers.append((name, Header.loads(v)))
            else:
                self._items.setdefault(name, {}).setdefault(seq, set()).add(k)
                self._item_bytes += len(v)
        for name, hdr in sorted(headers, key=lambda nh: nh[1].last_seen_wall):
            self._index_header(name, hdr)

    def _index_header(self, name: Name, hdr: Header) -> None:
        domain, key = name
        self._headers[name] = hdr
        finished = self._finished.setdefault(domain, {})
        opened = self._open.setdefault(domain, set())
        finished.pop(key, None)
        if hdr.count > 0:
            opened.add(key)
        else:
            opened.discard(key)
            finished[key] = None

    def _unindex_header(self, name: Name) -> None:
        domain, key = name
        self._headers.pop(name, None)
        self._open.get(domain, set()).discard(key)
        self._finished.get(domain, {}).pop(key, None)

    # -- reads -----------------------------------------------------------------------------------

    def header(self, domain: str, key: str) -> Header | None:
        self._sync()
        hdr = self._headers.get((domain, key))
        return copy.copy(hdr) if hdr is not None else None

    def has_item(self, domain: str, key: str, seq: int, index: int) -> bool:
        self._sync()
        return self.item_key(domain, key, seq, index) in self._items.get((domain, key), {}).get(seq, ())

    def items(self, domain: str, key: str, seq: int) -> list[tuple[bytes, bytes]]:
        self._sync()
        keys = self._items.get((domain, key), {}).get(seq, set())
        return sorted((k, self.data[k]) for k in keys)

    def older_windows(self, domain: str, key: str, current_seq: int) -> list[int]:
        self._sync()
        return sorted(q for q in self._items.get((domain, key), {}) if q < current_seq)

    def headers(self) -> list[tuple[str, str, Header]]:
        self._sync()
        return [(d, k, copy.copy(h)) for (d, k), h in list(self._headers.items())]

    def open_keys(self, domain: str) -> list[tuple[str, Header]]:
        """Keys of `domain` with an open (non-empty) window, with a copy of their headers."""
        self._sync()
        return [(k, copy.copy(self._headers[(domain, k)])) for k in list(self._open.get(domain, ()))]

    def open_count(self, domain: str) -> int:
        self._sync()
        return len(self._open.get(domain, ()))

    def keys_with_items(self, domain: str) -> list[str]:
        self._sync()
        return [k for (d, k) in list(self._items) if d == domain]

    def item_bytes(self) -> int:
        """Bytes of all item entries in the state (what a restart restores from the changelog)."""
        self._sync()
        return self._item_bytes

    def key_count(self, domain: str) -> int:
        self._sync()
        return sum(1 for d, _k in self._headers if d == domain)

    # -- writes ----------------------------------------------------------------------------------

    def put(self, partition: int, k: bytes, v: bytes) -> None:
        self._sync()
        parsed = _parse(k)
        if parsed is not None and parsed[0] == "i":
            self._item_bytes += len(v) - len(self.data.get(k, b""))
        self.data[k] = v
        self.changelog.record(partition, k, v)
        if parsed is None:
            return
        kind, name, seq = parsed
        if kind == "h":
            self._index_header(name, Header.loads(v))
        else:
            self._items.setdefault(name, {}).setdefault(seq, set()).add(k)

    def put_header(self, partition: int, domain: str, key: str, hdr: Header) -> None:
        """Write a key's header (without decoding it back)."""
        self._sync()
        k = self.header_key(domain, key)
        self.data[k] = hdr.dumps()
        self.changelog.record(partition, k, self.data[k])
        self._index_header((domain, key), copy.copy(hdr))

    def put_item(self, partition: int, domain: str, key: str, seq: int, index: int, v: bytes) -> None:
        self._sync()
        k = self.item_key(domain, key, seq, index)
        self._item_bytes += len(v) - len(self.data.get(k, b""))  # a re-applied item replaces its copy
        self.data[k] = v
        self.changelog.record(partition, k, v)
        self._items.setdefault((domain, key), {}).setdefault(seq, set()).add(k)

    def delete(self, partition: int, k: bytes) -> None:
        self._sync()
        if k not in self.data:
            return
        parsed = _parse(k)
        if parsed is not None and parsed[0] == "i":
            self._item_bytes -= len(self.data[k])
        del self.data[k]
        self.changelog.record(partition, k, None)
        if parsed is None:
            return
        kind, name, seq = parsed
        if kind == "h":
            self._unindex_header(name)
            return
        windows = self._items.get(name)
        if windows is None:
            return
        keys = windows.get(seq)
        if keys is not None:
            keys.discard(k)
            if not keys:
                del windows[seq]
        if not windows:
            del self._items[name]

    def expire_finished(
        self,
        domain: str,
        now: float,
        ttl_s: float,
        max_keys: int,
        since: float = 0.0,
        busy: set[str] | None = None,
        ready: Callable[[int], bool] | None = None,
    ) -> int:
        """Forget finished keys (no open window, no items left) idle `ttl_s` or beyond the newest
        `max_keys`; their headers are deleted (tombstoned), so state and changelog stay bounded.
        Keys of partitions that are not `ready` (still being recovered) are left for a later sweep."""
        self._sync()
        finished = self._finished.get(domain, {})
        excess = len(finished) - max_keys
        gone: list[str] = []
        for key in finished:  # oldest first; nothing is deleted until the walk ends
            hdr = self._headers[(domain, key)]
            old = now - max(hdr.last_seen_wall, since) >= ttl_s
            if not old and excess - len(gone) <= 0:
                break  # the rest finished later and the count is within bounds
            if (domain, key) in self._items or (busy is not None and key in busy):
                continue  # a close is still in flight or was interrupted: recover() needs the header
            if ready is not None and not ready(hdr.partition):
                continue  # its partition is still being recovered
            gone.append(key)
        for key in gone:
            self.delete(self._headers[(domain, key)].partition, self.header_key(domain, key))
        return len(gone)
