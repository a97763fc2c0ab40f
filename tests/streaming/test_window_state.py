"""Window state stays bounded and cheap: finished keys expire (by count and age), per-event work never
walks the whole map, and indexes follow bulk replacement of the map (recovery, revoked partitions)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry

from core.blobstore import BlobStore
from core.metrics import TailorMetrics
from streaming.window_store import PartitionedState
from streaming.windows import RobotKeys, Windower, WindowState
from streaming.windows_config import WindowsConfig
from tests.streaming.test_windows import Collect, ListChangeLog, make, pos, step


class CountingMap(dict[bytes, bytes]):
    """A dict that counts walks over all its entries."""

    walks = 0

    def __iter__(self) -> Iterator[bytes]:
        self.walks += 1
        return super().__iter__()

    def items(self):  # type: ignore[no-untyped-def,override]
        self.walks += 1
        return super().items()


def test_finished_keys_are_bounded_by_count_and_tombstoned(tmp_path: Path) -> None:
    closer = Collect()
    w, store, changelog = make(tmp_path, closer, window_grace_s=0.0, window_max_finished_keys=5)

    async def run() -> None:
        for n in range(40):  # 40 short episodes, each closed by its final step
            await w.handle(step(0, ep=f"e{n}"), pos(2 * n))
            await w.handle(step(1, last=True, ep=f"e{n}"), pos(2 * n + 1))
        await w.drain()
        await w.sweep()

    asyncio.run(run())
    assert len(closer.windows) == 40
    headers = [k for k in store if k.startswith(b"h|")]
    assert len(headers) == 5  # the newest five finished keys
    assert sorted(headers) == sorted(f"h|robot|e{n}".encode() for n in range(35, 40))
    assert not [k for k in store if k.startswith(b"i|")]
    tombstoned = {k for _p, k, v in changelog.entries if v is None and k.startswith(b"h|")}
    assert len(tombstoned) == 35  # recovery from the changelog is bounded too
    assert w.state.key_count("robot") == 5


def test_finished_key_expires_after_its_ttl_and_then_starts_afresh(tmp_path: Path) -> None:
    closer = Collect()
    w, store, _ = make(tmp_path, closer, window_grace_s=0.0, window_finished_key_ttl_s=30.0)

    async def run() -> None:
        await w.handle(step(0, ep="a"), pos(0))
        await w.handle(step(1, last=True, ep="a"), pos(1))
        await w.drain()
        now = time.time()
        await w.sweep(now + 10.0)
        assert b"h|robot|a" in store  # still remembered: a late step is detected
        await w.sweep(now + 31.0)
        assert b"h|robot|a" not in store
        await w.handle(step(1, ep="a"), pos(2))  # forgotten: no longer late, a new window 0
        assert w.state.header("robot", "a") is not None
        assert w.open_windows() == 1

    asyncio.run(run())


def test_an_open_or_interrupted_key_is_never_expired(tmp_path: Path) -> None:
    crashing = Collect(fail=True)
    w, store, _ = make(
        tmp_path, crashing, window_grace_s=0.0, window_max_finished_keys=1, window_finished_key_ttl_s=1.0
    )

    async def run() -> None:
        await w.handle(step(0, last=True, ep="broken"), pos(0))  # its close fails: items stay
        await w.drain()
        await w.handle(step(0, ep="open"), pos(1))
        await w.sweep(time.time() + 100.0)

    asyncio.run(run())
    assert b"h|robot|broken" in store  # recover() still needs it
    assert any(k.startswith(b"i|robot|broken|") for k in store)


def test_events_and_sweeps_do_not_walk_the_whole_state(tmp_path: Path) -> None:
    data = CountingMap()
    closer = Collect()
    w = Windower(
        RobotKeys(),
        WindowState(data, ListChangeLog()),
        closer,
        WindowsConfig(window_max_items=4, window_grace_s=0.0),
        BlobStore.for_dir(tmp_path / "blobs"),
        TailorMetrics(CollectorRegistry()),
    )

    async def run() -> None:
        await w.handle(step(0, ep="warm"), pos(0))  # the first use builds the indexes
        data.walks = 0
        for n in range(30):
            for i in range(4):  # full windows close by size
                await w.handle(step(i, ep=f"k{n}"), pos(100 + 4 * n + i))
            await w.sweep()
        await w.drain()
        await w.recover()
        assert w.open_windows() == 1

    asyncio.run(run())
    assert len(closer.windows) == 30
    assert data.walks == 0


def test_indexes_follow_a_bulk_replacement_of_the_map(tmp_path: Path) -> None:
    data = PartitionedState()
    closer = Collect()
    w = Windower(
        RobotKeys(),
        WindowState(data, ListChangeLog()),
        closer,
        WindowsConfig(window_max_items=3),
        BlobStore.for_dir(tmp_path / "blobs"),
        TailorMetrics(CollectorRegistry()),
    )
    asyncio.run(w.handle(step(0, ep="x"), pos(0)))
    # recovery writes entries straight into the map (another worker's items of this key), then says so
    for i in (1, 2):
        data.entries[WindowState.item_key("robot", "x", 0, i)] = b'{"offset": %d, "record": %s}' % (
            i,
            step(i, ep="x").model_dump_json().encode(),
        )
    hdr = w.state.header("robot", "x")
    assert hdr is not None
    hdr.count = 3
    data.entries[WindowState.header_key("robot", "x")] = hdr.dumps()
    data.generation += 1

    async def run() -> None:
        assert w.open_windows() == 1
        assert await w.close_window("x", "size") is not None
        await w.drain()

    asyncio.run(run())
    assert [s.step_index for s in closer.windows[0].records] == [0, 1, 2]
    data.drop_partitions({0})
    assert w.open_windows() == 0 and w.state.header("robot", "x") is None


def test_finished_keys_of_a_partition_still_recovering_are_kept(tmp_path: Path) -> None:
    closer = Collect()
    recovering = {0}
    w, store, _ = make(tmp_path, closer, window_grace_s=0.0, window_max_finished_keys=1)
    w.ready = lambda p: p not in recovering

    async def run() -> None:
        recovering.clear()
        for n in range(3):
            await w.handle(step(0, last=True, ep=f"e{n}"), pos(n))
        await w.drain()
        recovering.add(0)  # the partition is reassigned and its state is being read back
        await w.sweep()
        assert len([k for k in store if k.startswith(b"h|")]) == 3
        recovering.clear()
        await w.sweep()

    asyncio.run(run())
    assert [k for k in store if k.startswith(b"h|")] == [b"h|robot|e2"]
