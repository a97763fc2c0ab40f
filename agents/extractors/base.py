"""Base class of the bottom-up experts: each turns one window into typed anchors.

The base owns the plumbing (timing, counting, turning failures into a reason label);
subclasses own one decision in `extract`.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from typing import ClassVar, Generic, TypeVar

from core.errors import TailorError
from core.records import Anchor, RecordError

log = logging.getLogger(__name__)

W = TypeVar("W")


class ExtractorError(TailorError, RuntimeError):
    """An extractor's refusal of one window; the message names the extractor."""

    def __init__(self, extractor: str, reason: str, detail: str) -> None:
        super().__init__(reason, detail, f"{extractor}: {reason}: {detail}")
        self.extractor = extractor


class Extractor(ABC, Generic[W]):
    """One expert. `name` labels its metrics and the anchors' ids."""

    name: ClassVar[str] = "extractor"

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
        return anchors

    @abstractmethod
    def extract(self, window: W) -> list[Anchor]:
        """Return the anchors this expert finds in the window."""
