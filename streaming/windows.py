"""Keyed windows over raw streams, with state that survives a worker restart.

Policy (also in docs/windows.md):
- size: a window holds at most `window_max_items` steps/segments (video: `window_video_seconds` of
  stream time) and `window_max_key_bytes` of state entries; a full window closes at once and the next
  item opens a new one (tumbling). An item that would take all open windows past
  `window_max_state_bytes` is dead-lettered (`window_state_full`).
- session end: a step with `is_last` closes the window after `window_grace_s`; a key idle for
  `window_gap_s` (+ grace) closes too (checked every `window_sweep_interval_s`).
- late events: an item whose index is at or below the last index of an already-closed window of its
  key is late: it is dead-lettered with reason `late_event`; a repeated index inside the open window
  is dead-lettered with reason `duplicate_step`. Out-of-order items inside the open window are
  re-sorted by index at close.
- redelivery: after a crash Kafka delivers again what was processed but not committed; a message the
  state already holds (same partition, an offset already taken into the open window or a closed one)
  is skipped (`tailor_stage_dropped_total{reason="redelivered"}`), not dead-lettered as late.
- state: one small changelogged table entry per item (media spilled to the blob store first, so
  entries stay small) plus one fixed-size header per key. Closing deletes the items. Nothing rewrites
  a whole window list on every event. Headers of finished keys expire by age and count
  (`window_finished_key_ttl_s`, `window_max_finished_keys`), so state does not grow with every key
  seen; indexes beside the map (streaming/window_state.py) keep per-event work per key. After a
  restart the table is recovered from its changelog and open windows continue; a window whose close
  was interrupted is found by `recover()` and closed once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from core.blobstore import BlobStore
from core.dlq import SourcePosition
from core.metrics import TailorMetrics
from core.records import GuiStep, MediaRef, RecordError, RobotStep, TailorRecord, VideoSegment
from core.tenancy import scoped_key
from core.window import ClosedWindow
from streaming.decode_ledger import ledger_key
from streaming.executors import in_stage
from streaming.ingest import RecordHandler
from streaming.window_state import ChangeLog, Header, WindowState
from streaming.windows_config import WindowsConfig

__all__ = [
    "ChangeLog",
    "ClosedWindow",
    "GuiKeys",
    "Header",
    "KeyAdapter",
    "RobotKeys",
    "VideoKeys",
    "WindowCloser",
    "WindowState",
    "Windower",
]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=TailorRecord)


class KeyAdapter(ABC, Generic[R]):
    """How one raw record type is windowed: its key, index, times and end marker."""

    domain: str
    record_type: type[R]

    @abstractmethod
    def key(self, record: R) -> str: ...

    @abstractmethod
    def index(self, record: R) -> int: ...

    @abstractmethod
    def stream_time(self, record: R) -> float: ...

    def is_last(self, record: R) -> bool:
        return bool(getattr(record, "is_last", False))

    def span_seconds(self, first: R, last: R) -> float:
        return 0.0

    def spill(self, record: R, blobs: BlobStore) -> R:
        """The record with inline media moved to the blob store (so state entries stay small)."""
        return record

    def has_inline(self, record: R) -> bool:
        """Whether `spill` has anything to move (if not, no thread hop is needed)."""
        return True


def _spill_ref(ref: MediaRef, blobs: BlobStore) -> MediaRef:
    if ref.data is None:
        return ref
    return blobs.put(ref.data, ref.media_type, ref.width, ref.height)


class RobotKeys(KeyAdapter[RobotStep]):
    domain = "robot"
    record_type = RobotStep

    def key(self, record: RobotStep) -> str:
        return record.episode_id

    def index(self, record: RobotStep) -> int:
        return record.step_index

    def stream_time(self, record: RobotStep) -> float:
        return record.timestamp

    def has_inline(self, record: RobotStep) -> bool:
        return any(ref.data is not None for ref in record.cameras.values())

    def spill(self, record: RobotStep, blobs: BlobStore) -> RobotStep:
        if not self.has_inline(record):
            return record
        return record.model_copy(
            update={"cameras": {k: _spill_ref(v, blobs) for k, v in record.cameras.items()}}
        )


class GuiKeys(KeyAdapter[GuiStep]):
    domain = "gui"
    record_type = GuiStep

    def key(self, record: GuiStep) -> str:
        return record.session_id

    def index(self, record: GuiStep) -> int:
        return record.step_index

    def stream_time(self, record: GuiStep) -> float:
        return record.timestamp

    def has_inline(self, record: GuiStep) -> bool:
        return record.screenshot is not None and record.screenshot.data is not None

    def spill(self, record: GuiStep, blobs: BlobStore) -> GuiStep:
        if record.screenshot is None or record.screenshot.data is None:
            return record
        return record.model_copy(update={"screenshot": _spill_ref(record.screenshot, blobs)})


class VideoKeys(KeyAdapter[VideoSegment]):
    domain = "video"
    record_type = VideoSegment

    def key(self, record: VideoSegment) -> str:
        return record.stream_id

    def index(self, record: VideoSegment) -> int:
        return record.seq

    def stream_time(self, record: VideoSegment) -> float:
        return record.start_time

    def span_seconds(self, first: VideoSegment, last: VideoSegment) -> float:
        return last.start_time + last.duration_s - first.start_time

    def has_inline(self, record: VideoSegment) -> bool:
        return record.media.data is not None

    def spill(self, record: VideoSegment, blobs: BlobStore) -> VideoSegment:
        return record.model_copy(update={"media": _spill_ref(record.media, blobs)})


class WindowCloser(ABC):
    """What happens to a closed window (anchor extraction and emission)."""

    @abstractmethod
    async def close(self, window: ClosedWindow) -> None: ...


class Windower(RecordHandler):
    """Appends accepted raw records to their key's open window and closes windows by policy."""

    def __init__(
        self,
        adapter: KeyAdapter[Any],
        state: WindowState,
        closer: WindowCloser,
        config: WindowsConfig,
        blobs: BlobStore,
        metrics: TailorMetrics,
        ready: Callable[[int], bool] | None = None,
    ) -> None:
        self.adapter = adapter
        self.ready = ready
        self.state = state
        self.closer = closer
        self.config = config
        self.blobs = blobs
        self.metrics = metrics
        self.closing: set[tuple[str, int]] = set()  # closes in progress in this process
        self._tasks: set[asyncio.Task[None]] = set()
        self._gate: asyncio.Semaphore | None = None

    @property
    def stage(self) -> str:
        return f"window_{self.adapter.domain}"

    async def handle(self, record: TailorRecord, pos: SourcePosition) -> None:
        ad = self.adapter
        # a tenant's keys are its own: another producer's ids cannot reach (or make late) its windows
        key, index = scoped_key(getattr(record, "tenant", None), ad.key(record)), ad.index(record)
        if self._redelivered(key, index, pos):
            log.debug(
                "%s %s index %d at offset %d is already in the window state",
                ad.domain,
                key,
                index,
                pos.offset,
            )
            self.metrics.stage_dropped.labels(self.stage, "redelivered").inc()
            return
        self._check_order(key, index, pos.offset)  # cheap early answer, before any media is moved
        spilled = await in_stage("windows", ad.spill, record, self.blobs) if ad.has_inline(record) else record
        # from here to the header write there is no await: a sweep cannot interleave
        hdr = self._check_order(key, index, pos.offset) or Header(partition=pos.partition, topic=pos.topic)
        entry = b'{"offset": %d, "record": %s}' % (pos.offset, spilled.model_dump_json().encode())
        total, cap = self.state.item_bytes(), self.config.window_max_state_bytes
        if total + len(entry) > cap:
            raise RecordError(
                "window_state_full", f"{len(entry)} bytes more would take window state past {cap} ({total})"
            )
        self.state.put_item(pos.partition, ad.domain, key, hdr.seq, index, entry)
        hdr.state_bytes += len(entry)
        now = time.time()
        if hdr.count == 0:
            hdr.first_offset, hdr.first_time, hdr.first_index = pos.offset, ad.stream_time(record), index
        hdr.count += 1
        hdr.partition, hdr.topic = pos.partition, pos.topic
        hdr.first_offset = min(hdr.first_offset, pos.offset)
        hdr.last_offset = max(hdr.last_offset, pos.offset)
        hdr.last_time = max(hdr.last_time, ad.stream_time(record))
        hdr.max_index = max(hdr.max_index, index)
        hdr.first_index = min(hdr.first_index, index)
        hdr.last_seen_wall = now
        if ad.is_last(record):
            hdr.last_seen_final_wall = now
        self.state.put_header(pos.partition, ad.domain, key, hdr)
        self.metrics.stage_in.labels(self.stage).inc()
        if self._full(hdr, key):
            await self.close_window(key, "size")
        elif hdr.state_bytes >= self.config.window_max_key_bytes:
            await self.close_window(key, "bytes")
        elif ad.is_last(record) and self.config.window_grace_s == 0:
            await self.close_window(key, "final")

    def _redelivered(self, key: str, index: int, pos: SourcePosition) -> bool:
        """Whether the state already holds this very message (same partition, an offset it took).

        After a crash Kafka delivers again what was processed but not committed, while the changelogged
        state may already have it (in the open window, or in a window closed since): that copy is no
        late event and no duplicate step, just a redelivery, and is skipped. A producer's re-send has a
        new offset and is still dead-lettered."""
        hdr = self.state.header(self.adapter.domain, key)
        if hdr is None or (hdr.topic, hdr.partition) != (pos.topic, pos.partition):
            return False
        if index <= hdr.last_closed_index:
            return pos.offset <= hdr.last_closed_offset
        return pos.offset <= hdr.last_offset and self._stored_offset(key, hdr.seq, index) == pos.offset

    def _stored_offset(self, key: str, seq: int, index: int) -> int | None:
        raw = self.state.data.get(self.state.item_key(self.adapter.domain, key, seq, index))
        return None if raw is None else int(json.loads(raw)["offset"])

    def _check_order(self, key: str, index: int, offset: int) -> Header | None:
        ad = self.adapter
        hdr = self.state.header(ad.domain, key)
        if hdr is None:
            return None
        if index <= hdr.last_closed_index:
            raise RecordError(
                "late_event",
                f"{ad.domain} {key} item {index} arrived after its window closed (items up to "
                f"{hdr.last_closed_index} are windowed); a recording replayed again is not windowed again: "
                "`tailor reprocess` applies new intents to the stored windows",
            )
        # the same message stored while its header change was lost in a crash is applied again, not refused
        if (
            self.state.has_item(ad.domain, key, hdr.seq, index)
            and self._stored_offset(key, hdr.seq, index) != offset
        ):
            raise RecordError("duplicate_step", f"{ad.domain} {key} index {index} already in the open window")
        return hdr

    def _full(self, hdr: Header, key: str) -> bool:
        if hdr.count >= self.config.window_max_items:
            return True
        if self.adapter.domain != "video":
            return False
        return hdr.last_time - hdr.first_time >= self.config.window_video_seconds

    async def close_window(self, key: str, reason: str) -> ClosedWindow | None:
        ad = self.adapter
        hdr = self.state.header(ad.domain, key)
        if hdr is None or hdr.count == 0:
            return None
        seq = hdr.seq
        entries = self.state.items(ad.domain, key, seq)
        records = [ad.record_type.model_validate(json.loads(v)["record"]) for _k, v in entries]
        records.sort(key=ad.index)
        window = ClosedWindow(
            domain=ad.domain,
            key=key,
            seq=seq,
            topic=hdr.topic,
            partition=hdr.partition,
            first_offset=hdr.first_offset,
            last_offset=hdr.last_offset,
            records=records,
            reason=reason,
        )
        # the next item opens window seq+1; if we crash before the items are deleted, recover() closes it
        # last_seen_wall of a finished key is when it finished (finished keys expire by it)
        final = Header(
            seq=seq + 1,
            partition=hdr.partition,
            topic=hdr.topic,
            last_seen_wall=time.time(),
            last_closed_index=max(hdr.last_closed_index, hdr.max_index),
            last_closed_offset=max(hdr.last_closed_offset, hdr.last_offset),
        )
        self.state.put_header(hdr.partition, ad.domain, key, final)
        # a cancelled, failed or killed close leaves its items behind an older window number: recover()
        # finishes it. Closes run in the background so the stream keeps flowing (and keys that are still
        # arriving do not look idle); at most `window_close_concurrency` at once, then the stream waits.
        self.closing.add((key, seq))
        await self._slots().acquire()
        task = asyncio.create_task(self._finish(window, [k for k, _v in entries], hdr.partition))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return window

    def _slots(self) -> asyncio.Semaphore:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.config.window_close_concurrency)
        return self._gate

    async def _finish(self, window: ClosedWindow, item_keys: list[bytes], partition: int) -> None:
        try:
            await self.closer.close(window)
        except Exception:
            log.exception("closing %s failed; it will be retried", window.window_id)
            return
        finally:
            self.closing.discard((window.key, window.seq))
            self._slots().release()
        for k in item_keys:
            self.state.delete(partition, k)
        self.state.delete(partition, ledger_key(window.window_id))  # its decoding is settled with its items
        self.metrics.stage_out.labels(self.stage).inc()

    async def drain(self) -> None:
        """Wait for the closes in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def sweep(self, now: float | None = None, active_since: float = 0.0) -> int:
        """Close idle windows (gap) and final ones past their grace; return how many closed.

        `active_since` is when this worker started: a window is never idle for longer than that,
        so a restart does not close every open window at once before its next items arrive."""
        now = time.time() if now is None else now
        closed = 0
        cfg = self.config
        for key, hdr in self.state.open_keys(self.adapter.domain):
            if not self._ready(hdr.partition):
                continue
            if (
                hdr.last_seen_final_wall
                and now - max(hdr.last_seen_final_wall, active_since) >= cfg.window_grace_s
            ):
                reason = "final"
            elif now - max(hdr.last_seen_wall, active_since) >= cfg.window_gap_s + cfg.window_grace_s:
                reason = "gap"
            else:
                continue
            if await self.close_window(key, reason):
                closed += 1
        busy = {k for k, _seq in self.closing}
        self.state.expire_finished(
            self.adapter.domain,
            now,
            cfg.window_finished_key_ttl_s,
            cfg.window_max_finished_keys,
            since=active_since,
            busy=busy,
            ready=self._ready,
        )
        return closed

    def _ready(self, partition: int) -> bool:
        return self.ready is None or self.ready(partition)

    def open_windows(self) -> int:
        return self.state.open_count(self.adapter.domain)

    async def recover(self) -> int:
        """Close windows whose close was interrupted (items left under an older window number)."""
        recovered = 0
        ad = self.adapter
        domain = ad.domain
        for key in self.state.keys_with_items(domain):
            hdr = self.state.header(domain, key)
            if hdr is None or not self._ready(hdr.partition):
                continue
            for seq in self.state.older_windows(domain, key, hdr.seq):
                if (key, seq) in self.closing:
                    continue  # being closed right now, not interrupted
                entries = self.state.items(domain, key, seq)
                loaded = [json.loads(v) for _k, v in entries]
                records = sorted((ad.record_type.model_validate(e["record"]) for e in loaded), key=ad.index)
                offsets = [int(e["offset"]) for e in loaded]
                window = ClosedWindow(
                    domain,
                    key,
                    seq,
                    hdr.topic,
                    hdr.partition,
                    min(offsets),
                    max(offsets),
                    records,
                    "recovered",
                )
                self.closing.add((key, seq))
                await self._slots().acquire()
                task = asyncio.create_task(self._finish(window, [k for k, _v in entries], hdr.partition))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                recovered += 1
        return recovered
