"""Keep a failing client from flooding the log: at most `burst` records of one message template per
`interval_s` from the Kafka client libraries; the rest are counted and the count is logged with the next
record of that template that gets through.

During a 20 s broker outage aiokafka logged one ERROR per connection attempt (2,300 to 3,300 lines per
worker). Tailor's own loggers are never limited: each of their records names a window, a key or an offset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

LIMITED_LOGGERS = ("kafka", "aiokafka", "faust", "mode")


class RepeatLimiter(logging.Filter):
    """A handler filter: records of the same (logger, level, template) beyond `burst` in `interval_s` are dropped."""

    def __init__(
        self,
        burst: int,
        interval_s: float,
        prefixes: tuple[str, ...] = LIMITED_LOGGERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.interval_s = interval_s
        self.prefixes = prefixes
        self.clock = clock
        self.seen: dict[
            tuple[str, int, str], list[float | int]
        ] = {}  # key -> [window start, passed, dropped]
        self.lock = threading.Lock()  # Handler.handle calls filters before taking its own lock

    def limited(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self.prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.burst <= 0 or not self.limited(record.name):
            return True
        with self.lock:  # Faust's consumer thread and the thread pool log too
            return self._count(record)

    def _count(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        state = self.seen.get(key)
        if state is None or now - state[0] >= self.interval_s:
            dropped = int(state[2]) if state is not None else 0
            self.seen[key] = [now, 1, 0]
            if len(self.seen) > 10_000:  # templates, not messages: this bound is never reached in practice
                self.seen = {key: self.seen[key]}
            if dropped:
                record.msg = (
                    f"{record.getMessage()} ({dropped} more like this in the last {self.interval_s:g} s "
                    "were not logged)"
                )
                record.args = None
            return True
        if state[1] < self.burst:
            state[1] = int(state[1]) + 1
            return True
        state[2] = int(state[2]) + 1
        return False
