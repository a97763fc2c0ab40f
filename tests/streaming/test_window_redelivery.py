"""Redelivery after a crash: Kafka hands a restarted worker the messages it processed but did not commit.
Those the recovered window state already holds are skipped; a producer's re-send (new offset) is not."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.records import RecordError
from streaming.windows import Windower
from tests.streaming.test_windows import Collect, make, pos, step


def restarted(tmp_path: Path, store: dict[bytes, bytes], closer: Collect, **cfg: float) -> Windower:
    """A new Windower on the state a crashed one left (as recovered from the changelog)."""
    w, _store, _log = make(tmp_path, closer, data=store, **cfg)
    return w


def skipped(w: Windower) -> float:
    labels = {"stage": w.stage, "reason": "redelivered"}
    value = w.metrics.registry.get_sample_value("tailor_stage_dropped_total", labels)
    return value or 0.0


def test_messages_of_the_open_window_delivered_again_are_skipped(tmp_path: Path) -> None:
    closer = Collect()
    first, store, _ = make(tmp_path, closer, window_max_items=10)

    async def run() -> None:
        for i in range(4):
            await first.handle(step(i), pos(i))
        again = restarted(tmp_path, store, closer, window_max_items=10)
        for i in range(4):  # the uncommitted offsets come back
            await again.handle(step(i), pos(i))
        assert skipped(again) == 4
        await again.handle(step(4, last=True), pos(4))
        await again.close_window("ep", "final")
        await again.drain()
        with pytest.raises(RecordError) as exc:  # the same step sent again by a producer: a new offset
            await again.handle(step(3), pos(9))
        assert exc.value.reason == "late_event"

    asyncio.run(run())
    assert [[s.step_index for s in w.records] for w in closer.windows] == [[0, 1, 2, 3, 4]]


def test_messages_of_a_window_closed_before_the_crash_are_skipped(tmp_path: Path) -> None:
    closer = Collect()
    first, store, _ = make(tmp_path, closer, window_max_items=3)

    async def run() -> None:
        for i in range(4):  # 0..2 fill and close window 0; 3 opens window 1
            await first.handle(step(i), pos(i))
        await first.drain()
        again = restarted(tmp_path, store, closer, window_max_items=3)
        for i in range(4):
            await again.handle(step(i), pos(i))  # no late_event, no duplicate_step
        assert skipped(again) == 4
        with pytest.raises(RecordError) as exc:
            await again.handle(step(3), pos(7))
        assert exc.value.reason == "duplicate_step"

    asyncio.run(run())
    assert [[s.step_index for s in w.records] for w in closer.windows] == [[0, 1, 2]]


def test_a_stored_step_whose_header_write_was_lost_is_counted_once(tmp_path: Path) -> None:
    """The crash fell between a step's item write and its header write: the redelivered step is applied."""
    closer = Collect()
    first, store, _ = make(tmp_path, closer, window_max_items=10)

    async def run() -> None:
        for i in range(2):
            await first.handle(step(i), pos(i))
        header_key = next(k for k in store if k.startswith(b"h|"))
        header_of_two = store[header_key]
        await first.handle(step(2), pos(2))
        crashed = dict(store)
        crashed[header_key] = header_of_two  # item 2 is in the changelog, its header change is not
        again = restarted(tmp_path, crashed, closer, window_max_items=10)
        await again.handle(step(1), pos(1))  # fully applied before the crash: skipped
        await again.handle(step(2), pos(2))  # half applied: applied again, not a duplicate_step
        assert skipped(again) == 1
        hdr = again.state.header("robot", "ep")
        assert hdr is not None and (hdr.count, hdr.last_offset) == (3, 2)
        await again.close_window("ep", "final")
        await again.drain()

    asyncio.run(run())
    assert [[s.step_index for s in w.records] for w in closer.windows] == [[0, 1, 2]]
