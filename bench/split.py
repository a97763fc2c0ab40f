"""The deterministic dev / heldout split, stratified by domain, whole windows at a time.

Within each domain the windows are ordered by sha256(salt, window id); a window's cases go to heldout
while that keeps the domain's heldout cases at or under round(fraction × the domain's cases), else to dev.
Cases on the same window (e.g. a Bridge episode's temporal_qa and next_subtask) never straddle the split;
overlapping windows of one long recording (UMI, GNOME) are different windows and may.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol


class Splittable(Protocol):
    @property
    def case_id(self) -> str: ...

    @property
    def domain(self) -> str: ...

    @property
    def window_key(self) -> str: ...


def split_cases(cases: Sequence[Splittable], fraction: float, salt: str) -> dict[str, str]:
    """case_id → `dev` | `heldout`."""
    out: dict[str, str] = {}
    for domain in sorted({c.domain for c in cases}):
        mine = [c for c in cases if c.domain == domain]
        groups: dict[str, list[str]] = {}
        for c in mine:
            groups.setdefault(c.window_key, []).append(c.case_id)
        target = round(fraction * len(mine))
        held = 0
        for key in sorted(groups, key=lambda k: hashlib.sha256(f"{salt}\x00{k}".encode()).hexdigest()):
            ids = groups[key]
            split = "heldout" if held + len(ids) <= target else "dev"
            held += len(ids) if split == "heldout" else 0
            out.update((i, split) for i in ids)
    return out
