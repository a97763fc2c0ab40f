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
