"""Base class of the bottom-up experts: each turns one window into typed anchors.

The base owns the plumbing (timing, counting, turning failures into a reason label);
subclasses own one decision in `extract`.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, Generic, TypeVar

from core.errors import TailorError
from core.records import Anchor, RecordError

log = logging.getLogger(__name__)

W = TypeVar("W")

_overruns = threading.local()


@contextmanager
def budget_overruns() -> Iterator[list[str]]:
    """The names of the experts that ran past their soft time budget (`Extractor.budget_s`) in this thread
    while the block ran: one window's anchoring runs in one thread, so the anchor stage counts them per window."""
    found: list[str] = []
    previous = getattr(_overruns, "names", None)
    _overruns.names = found
    try:
        yield found
    finally:
        _overruns.names = previous


class ExtractorError(TailorError, RuntimeError):
    """An extractor's refusal of one window; the message names the extractor."""

    def __init__(self, extractor: str, reason: str, detail: str) -> None:
        super().__init__(reason, detail, f"{extractor}: {reason}: {detail}")
        self.extractor = extractor


class Extractor(ABC, Generic[W]):
    """One expert. `name` labels its metrics and the anchors' ids."""

    name: ClassVar[str] = "extractor"
    # A soft time budget. Going past it is logged and counted (`budget_overruns`), never a reason to stop
    # early: anchors that depend on how busy the machine was would make one input give different facts.
    # The work itself is bounded by counts (frames, steps, pixels); a window that still takes too long
    # hits the anchor stage's timeout and is dead-lettered, visibly.
    budget_s: float | None = None

    def __call__(self, window: W) -> list[Anchor]:
        started = time.perf_counter()
        try:
            anchors = self.extract(window)
        except ExtractorError:
            raise
        except RecordError as exc:  # bad data inside the window keeps its own reason label
            raise ExtractorError(self.name, exc.reason, exc.detail) from exc
        except Exception as exc:  # an expert's bug or bad data must not kill the worker
            raise ExtractorError(self.name, "extractor_failed", f"{type(exc).__name__}: {exc}") from exc
        self.last_seconds = time.perf_counter() - started
        if self.budget_s is not None and self.last_seconds > self.budget_s:
            log.warning(
                "expert %s: %.1f s over its budget of %.1f s", self.name, self.last_seconds, self.budget_s
            )
            names = getattr(_overruns, "names", None)
            if names is not None:
                names.append(self.name)
        return anchors

    @abstractmethod
    def extract(self, window: W) -> list[Anchor]:
        """Return the anchors this expert finds in the window."""
