"""The deterministic dev / heldout split, stratified by domain, whole source recordings at a time.

A recording is what one live replay of a source produces under one stream key: the case's window source
(root + path) plus the key inside it, since a file can hold several independent recordings (the Bridge
TFRecord holds 25 episodes, each its own recording; the UMI folder, the AITW episode and the Mind2Web step
are one recording each; each video file is one). Every window cut from a recording, overlapping or not,
goes to the same split, so no heldout frame, step or annotation is ever seen in dev or in training.

Within each domain the recordings are ordered by sha256(salt, recording id); a recording's cases go to
heldout while that keeps the domain's heldout cases at or under round(fraction × the domain's cases), else
to dev. A domain with two or more recordings always has at least one in each split: when the greedy pass
holds out none, the smallest recording (first in hash order among equals) goes to heldout; when it holds
out all, the last one it took goes back to dev.
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
    def recording_id(self) -> str: ...


def recording_id(root: str, path: str, key: str) -> str:
    """The id of one source recording: `<root>:<path>#<key>`."""
    return f"{root}:{path}#{key}"


def _order(salt: str, rec: str) -> str:
    return hashlib.sha256(f"{salt}\x00{rec}".encode()).hexdigest()


def split_recordings(cases: Sequence[Splittable], fraction: float, salt: str) -> dict[str, str]:
    """recording id → `dev` | `heldout`."""
    out: dict[str, str] = {}
    for domain in sorted({c.domain for c in cases}):
        sizes: dict[str, int] = {}
        for c in cases:
            if c.domain == domain:
                sizes[c.recording_id] = sizes.get(c.recording_id, 0) + 1
        order = sorted(sizes, key=lambda r: _order(salt, r))
        target = round(fraction * sum(sizes.values()))
        held: list[str] = []
        count = 0
        for rec in order:
            if count + sizes[rec] <= target:
                held.append(rec)
                count += sizes[rec]
        if len(sizes) >= 2 and not held:
            held.append(min(order, key=lambda r: (sizes[r], order.index(r))))
        if len(sizes) >= 2 and len(held) == len(sizes):
            held.pop()
        out.update((r, "heldout" if r in held else "dev") for r in order)
    return out


def split_cases(cases: Sequence[Splittable], fraction: float, salt: str) -> dict[str, str]:
    """case_id → `dev` | `heldout` (every case of a recording in its recording's split)."""
    by_recording = split_recordings(cases, fraction, salt)
    return {c.case_id: by_recording[c.recording_id] for c in cases}
