"""Distractor sessions for a window, chosen from the anchors log itself so that a redelivery chooses the same.

gui_task_reconstruction mixes fragments of other sessions into a window's prompt. Which sessions those are
used to be whatever this process happened to have synthesised last; after a crash the restarted worker
redoes the uncommitted windows with an empty memory, so the same window got other distractors, another
prompt and another example id (an example the first run had never appeared; found by the SIGKILL test).

The rule now is a function of the anchors topic alone: the distractors of the anchor set at (partition p,
offset o) are the last `size` distinct windows of its domain, from other streams, among the `lookback`
messages before o on p. A window on the topic twice (an anchor stage that crashed after publishing it and
closed it again) takes its distractors from before its first copy, if that is within the last `memory`
messages, so both copies make one example. A process keeps that history as it goes; when it has none for p,
or the offsets jump (a restart, a rebalance, a seek back), it reads [o - memory, o) back from the broker.

Memory is bounded: a partition's history holds at most `memory` anchor sets, and an anchor set whose message
is over `max_distractor_bytes` is never a distractor (in both paths, so the choice stays the same).

What this cannot make equal is two different runs: windows of different streams that close at the same
moment reach the topic in either order, so an independent run of the same input may pair other sessions.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable

from core.dlq import SourcePosition
from core.records import AnchorSet, RecordError

log = logging.getLogger(__name__)

# (topic, partition, start, end) -> the (offset, value) of the messages in [start, end) that are still there
ReadBack = Callable[[str, int, int, int], Awaitable[list[tuple[int, bytes | None]]]]


class DistractorPool:
    def __init__(
        self,
        size: int,
        lookback: int,
        read_back: ReadBack | None,
        max_bytes: int,
        memory: int | None = None,
        max_distractor_bytes: int = 256 * 1024,
    ) -> None:
        self.size = size
        self.lookback = lookback
        self.memory = max(memory or 4 * lookback, lookback)
        self.read_back = read_back  # None: in-process history only (a benchmark without a broker)
        self.max_bytes = max_bytes
        self.max_distractor_bytes = max_distractor_bytes
        self.history: dict[tuple[str, int], deque[tuple[int, AnchorSet]]] = {}
        self.last: dict[tuple[str, int], int] = {}
        self.read_backs = 0

    async def before(self, pos: SourcePosition, anchors: AnchorSet, size: int = 0) -> tuple[AnchorSet, ...]:
        """The distractors of `anchors` at `pos` (its message `size` bytes); then `anchors` joins the history
        of its partition."""
        tp = (pos.topic, pos.partition)
        if self.read_back is not None and self.last.get(tp) != pos.offset - 1:
            await self._refill(tp, pos.offset)
        hist = self.history.setdefault(tp, deque(maxlen=self.memory))
        since = pos.offset - self.memory  # a history that skipped unparsable messages may reach further back
        at = next((off for off, a in hist if off >= since and a.window_id == anchors.window_id), pos.offset)
        out: list[AnchorSet] = []
        windows = {anchors.window_id}
        for offset, other in reversed(hist):
            if offset >= at:
                continue
            if len(out) >= self.size or offset < at - self.lookback:
                break
            if other.domain != anchors.domain or other.key == anchors.key or other.window_id in windows:
                continue  # a window on the topic twice (an anchor stage redelivery) counts once
            windows.add(other.window_id)
            out.append(other)
        if offset_ok(hist, pos.offset) and size <= self.max_distractor_bytes:
            hist.append((pos.offset, anchors))
        self.last[tp] = pos.offset
        return tuple(reversed(out))

    async def _refill(self, tp: tuple[str, int], offset: int) -> None:
        assert self.read_back is not None
        start = max(0, offset - self.memory)
        messages = await self.read_back(tp[0], tp[1], start, offset) if offset > 0 else []
        self.read_backs += 1
        hist: deque[tuple[int, AnchorSet]] = deque(maxlen=self.memory)
        for off, value in sorted(messages, key=lambda m: m[0]):
            if not start <= off < offset or value is None or len(value) > self.max_distractor_bytes:
                continue
            try:  # a message that is not an anchor set was dead-lettered when it came; it is no distractor
                hist.append((off, AnchorSet.from_bytes(value, max_bytes=self.max_bytes)))
            except RecordError:
                continue
        self.history[tp] = hist
        log.info("distractor history of %s/%d read back: %d anchor sets before %d", *tp, len(hist), offset)


def offset_ok(hist: deque[tuple[int, AnchorSet]], offset: int) -> bool:
    """Only a later offset extends the history (a redelivered earlier one is already in it)."""
    return not hist or hist[-1][0] < offset
