"""A pipeline of experts over one window: run each, collect their anchors, keep ids unique.

Shared by the GUI and robot pipelines (and usable by any window type).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Generic, Literal, TypeVar

from agents.extractors.base import Extractor, ExtractorError
from core.records import Anchor
from core.records.base import RecordError

log = logging.getLogger(__name__)

W = TypeVar("W")
OnError = Literal["raise", "skip"]


def reason_of(exc: ExtractorError) -> ExtractorError:
    """An expert failure carrying the media / record reason label of its cause when it has one."""
    cause = exc.__cause__
    if exc.reason == "extractor_failed" and isinstance(cause, RecordError):
        better = ExtractorError(exc.extractor, cause.reason, cause.detail)
        better.__cause__ = cause
        return better
    return exc


def anchor_order(anchor: Anchor) -> tuple[int, int, str, str]:
    end = anchor.end_frame_index if anchor.end_frame_index is not None else anchor.frame_index
    return (anchor.frame_index, end, anchor.type, anchor.anchor_id)


class ExpertPipeline(Generic[W]):
    """Runs its experts in order. `on_error="raise"` re-raises the first failure (with its reason
    label); `"skip"` logs it and keeps the other experts' anchors."""

    def __init__(self, steps: Sequence[Extractor[W]], on_error: OnError = "raise") -> None:
        self.steps = list(steps)
        self.on_error = on_error

    def run(self, window: W) -> list[Anchor]:
        anchors: list[Anchor] = []
        for expert in self.steps:
            try:
                found = expert(window)
            except ExtractorError as exc:
                failure = reason_of(exc)
                if self.on_error == "raise":
                    raise failure from exc.__cause__
                log.warning("expert %s skipped: %s", failure.extractor, failure)
                continue
            anchors.extend(found)
        ids = [a.anchor_id for a in anchors]
        if len(ids) != len(set(ids)):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ExtractorError(type(self).__name__, "duplicate_anchor_id", ", ".join(dupes[:5]))
        return sorted(anchors, key=anchor_order)

    def __call__(self, window: W) -> list[Anchor]:
        return self.run(window)
