"""The one base of Tailor's labelled failures.

Every failure that can reach a metric label, a dead letter or a CLI message carries a short stable `reason`
(a label: `invalid_json`, `hash_mismatch`, `truncated_media`) and a one-line `detail`; the message is
"reason: detail". Subclasses keep a builtin base beside this one (ValueError for bad input, RuntimeError for
a failed operation), so `except ValueError` at a call site still catches them.
"""

from __future__ import annotations


class TailorError(Exception):
    """A failure with a `reason` label and a `detail` line (`message` overrides the text when it says more)."""

    def __init__(self, reason: str, detail: str, message: str | None = None) -> None:
        super().__init__(message if message is not None else f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
