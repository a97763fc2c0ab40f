"""A closed window of raw records: what the window stage hands to the anchoring agents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClosedWindow:
    domain: str
    key: str
    seq: int
    topic: str
    partition: int
    first_offset: int
    last_offset: int
    records: list[Any] = field(default_factory=list)
    reason: str = "size"

    @property
    def window_id(self) -> str:
        return f"{self.domain}:{self.key}:{self.seq}"

    def provenance(self) -> tuple[str | None, str | None]:
        """(recording, licence) of the window: the first record's `source` and `licence` that are set (one
        key is one recording, so its records agree)."""
        source = next((r.source for r in self.records if getattr(r, "source", None)), None)
        licence = next((r.licence for r in self.records if getattr(r, "licence", None)), None)
        return source, licence
