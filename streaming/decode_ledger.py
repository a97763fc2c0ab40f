"""Which windows' decoding started, and which killed their decoder, in the changelogged window state.

A window that killed its decoder process (out of memory, crash, timeout) is dead-lettered at once, and
the worker lives on. The ledger makes that decision stick across a restart: one small entry per window
being decoded, `{"attempts": n, "killed": reason}`, under `d|<window id>` beside the window's items, so
it is recovered with them. Recovery that finds a window marked killed, or started
`window_decode_attempts` times without an outcome (the worker itself died each time), dead-letters it as
`poison_window` without decoding it again. The entry goes when the decoding has an outcome (anchors) or
when the window's items are deleted.
"""

from __future__ import annotations

import json

from core.window import ClosedWindow
from streaming.window_state import WindowState

POISON = "poison_window"


def ledger_key(window_id: str) -> bytes:
    return f"d|{window_id}".encode()


class DecodeLedger:
    def __init__(self, state: WindowState, max_attempts: int) -> None:
        self.state = state
        self.max_attempts = max_attempts

    def _entry(self, window: ClosedWindow) -> dict[str, object]:
        raw = self.state.data.get(ledger_key(window.window_id))
        return {} if raw is None else dict(json.loads(raw))

    def begin(self, window: ClosedWindow) -> str | None:
        """Count a start of the window's decoding; or why it must not start (the dead letter's detail)."""
        entry = self._entry(window)
        attempts = int(entry.get("attempts", 0))  # type: ignore[call-overload]
        if entry.get("killed"):
            return f"its decoder was killed on an earlier attempt ({entry['killed']})"
        if attempts >= self.max_attempts:
            return f"{attempts} decoding attempts ended without an outcome (the worker died)"
        self._put(window, {"attempts": attempts + 1, "killed": None})
        return None

    def killed(self, window: ClosedWindow, reason: str) -> None:
        entry = self._entry(window)
        self._put(window, {"attempts": entry.get("attempts", 1), "killed": reason})

    def finished(self, window: ClosedWindow) -> None:
        """The decoding had an outcome: a later close of the same window (a failed send) starts afresh."""
        self.state.delete(window.partition, ledger_key(window.window_id))

    def _put(self, window: ClosedWindow, entry: dict[str, object]) -> None:
        self.state.put(window.partition, ledger_key(window.window_id), json.dumps(entry).encode())
