"""Fuzzed window totals (issue 20: the fuzzers reached records one at a time, not what a window adds up).

Sequences of GUI steps for a few keys, with text sizes and counts that straddle the window limits (steps per
window, state bytes per key, state bytes of all open windows), go through the windower directly (no broker);
and sequences of decoded images of any size go through a window's decoded-image cache. Each item ends in
exactly one closed window or one `window_state_full` refusal, no other exception escapes, and no total
passes its bound by more than the one item the settings allow."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image
from prometheus_client import CollectorRegistry

from agents.extractors.gui.images import DecodedImages, decoded_size
from core.blobstore import BlobStore
from core.dlq import SourcePosition
from core.metrics import TailorMetrics
from core.records import GuiAction, GuiStep, RecordError
from core.window import ClosedWindow
from streaming.window_state import ChangeLog, WindowState
from streaming.windows import GuiKeys, WindowCloser, Windower
from streaming.windows_config import WindowsConfig

TOPIC = "tailor.raw.gui"


class NoChangeLog(ChangeLog):
    def record(self, partition: int, key: bytes, value: bytes | None) -> None:
        pass


class Collect(WindowCloser):
    def __init__(self) -> None:
        self.windows: list[ClosedWindow] = []

    async def close(self, window: ClosedWindow) -> None:
        self.windows.append(window)


def entry_bytes(offset: int, step: GuiStep) -> int:
    """What the windower stores for a step without inline media (its state-bytes unit)."""
    return len(b'{"offset": %d, "record": %s}' % (offset, step.model_dump_json().encode()))


configs = st.builds(
    WindowsConfig,
    window_max_items=st.integers(1, 8),
    window_max_key_bytes=st.integers(600, 40_000),
    window_max_state_bytes=st.integers(600, 80_000),
    window_grace_s=st.sampled_from([0.0, 1.0]),
)
# (key, html chars, accessibility chars, is_last)
items = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 12_000), st.integers(0, 6_000), st.booleans()),
    max_size=40,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=configs, seq=items)
def test_window_totals_close_within_bounds_or_dead_letter(
    tmp_path: Path, config: WindowsConfig, seq: list
) -> None:  # type: ignore[type-arg]
    closer = Collect()
    state = WindowState({}, NoChangeLog())
    w = Windower(
        GuiKeys(),
        state,
        closer,
        config,
        BlobStore.for_dir(tmp_path / "blobs"),
        TailorMetrics(CollectorRegistry()),
    )
    next_index = [0, 0, 0, 0]
    sizes: dict[tuple[str, int], tuple[int, int]] = {}  # (key, index) -> (offset, entry bytes)
    refused: set[tuple[str, int]] = set()

    async def run() -> None:
        for offset, (k, html, a11y, last) in enumerate(seq):
            key, index = f"s{k}", next_index[k]
            next_index[k] += 1
            step = GuiStep(
                session_id=key,
                step_index=index,
                timestamp=float(index),
                action=GuiAction(type="home"),
                html="h" * html or None,
                accessibility="a" * a11y or None,
                is_last=last,
            )
            size = entry_bytes(offset, step)
            before = state.item_bytes()
            try:
                await w.handle(step, SourcePosition(TOPIC, 0, offset))
            except RecordError as err:  # the only refusal a window total may cause
                assert err.reason == "window_state_full", err
                assert before + size > config.window_max_state_bytes
                assert state.item_bytes() == before  # nothing of it stored
                refused.add((key, index))
            else:
                sizes[(key, index)] = (offset, size)
            assert state.item_bytes() <= config.window_max_state_bytes
            await asyncio.sleep(0)  # let background closes finish and free their state
        for key, _hdr in state.open_keys("gui"):
            await w.close_window(key, "end")
        await w.drain()

    asyncio.run(run())
    assert state.item_bytes() == 0  # every closed window's entries are deleted
    windowed = [(win.key, r.step_index) for win in closer.windows for r in win.records]
    assert sorted(windowed) == sorted(sizes)  # each accepted step in exactly one window, none lost
    assert not refused & set(windowed)
    event(f"refused: {bool(refused)}")
    for win in closer.windows:
        event(f"closed by {win.reason}")
        assert 0 < len(win.records) <= config.window_max_items
        arrived = sorted(sizes[(win.key, r.step_index)] for r in win.records)  # by offset
        total = sum(b for _o, b in arrived)
        # a window closes once it reaches the per-key cap: all but its last item stay under it
        assert total - arrived[-1][1] < config.window_max_key_bytes, (win.reason, total)
        if win.reason == "bytes":
            assert total >= config.window_max_key_bytes
        if win.reason == "size":
            assert len(win.records) == config.window_max_items


sides = st.integers(1, 300)
modes = st.sampled_from(["L", "RGB", "RGBA"])


@settings(max_examples=80, deadline=None)
@given(
    budget=st.integers(1, 400_000),
    asks=st.lists(st.tuples(st.integers(0, 6), sides, sides, modes), min_size=1, max_size=30),
)
def test_decoded_image_cache_stays_within_its_budget(
    budget: int, asks: list[tuple[int, int, int, str]]
) -> None:
    """Whatever sizes a window's screenshots decode to, the cache holds at most its budget (or the one image
    just decoded when that alone is larger), counts its bytes exactly, and hands back the image asked for."""
    cache = DecodedImages(budget)
    made: dict[int, tuple[int, int, str]] = {}
    for key, width, height, mode in asks:
        shape = made.setdefault(key, (width, height, mode))  # one step's screenshot is always the same
        image = cache.get(key, lambda s=shape: Image.new(s[2], (s[0], s[1])))  # type: ignore[misc]
        assert image is not None and (image.width, image.height, image.mode) == shape
        held = list(cache.values())
        assert cache.bytes == sum(decoded_size(i) for i in held)
        assert cache.bytes <= budget or len(held) == 1
        assert key in cache
    assert cache.decodes <= len(asks)
