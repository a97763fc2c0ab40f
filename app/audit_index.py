"""What the audit page reads: the dataset's examples (without frame bytes) and its rejected candidates (the
`__rejected/` table, with their reasons) indexed by id, the filters' choices, and one key frame's bytes (from
the row when embedded, else from the frame store, verified)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from core.blobstore import BlobStore
from core.records import Example, RejectedExample
from streaming.sinks.card_stats import domain_of
from streaming.sinks.frames import EmbeddedFrames
from streaming.sinks.reader import StoredExample, iter_stored
from streaming.sinks.rejected import StoredRejection, iter_rejected

FILTERS = ("family", "domain", "intent", "version")
STATUSES = ("accepted", "rejected")  # the `status` filter: which table is listed (accepted by default)


@dataclass(frozen=True)
class Frame:
    data: bytes
    media_type: str


def facets(stored: StoredExample | StoredRejection) -> dict[str, str]:
    ex: Example | RejectedExample = stored.example if isinstance(stored, StoredExample) else stored.rejected
    return {
        "family": ex.task_family,
        "domain": domain_of(ex.window_id),
        "intent": ex.intent_id or "-",
        "version": ex.weights_version or "base",
    }


class AuditIndex:
    def __init__(self, root: Path, frames: EmbeddedFrames | None) -> None:
        self.root = root
        self.frames = frames
        self.examples = {s.example.example_id: s for s in iter_stored(root)}
        self.order = sorted(self.examples.values(), key=lambda s: -s.example.created_at)
        self.rejected = {s.rejected.example_id: s for s in iter_rejected(root)}
        self.rejected_order = sorted(self.rejected.values(), key=lambda s: -s.rejected.created_at)

    @classmethod
    def open(cls, root: Path, store: BlobStore | None, max_bytes: int, max_pixels: int) -> AuditIndex:
        return cls(root, EmbeddedFrames(store, max_bytes, max_pixels) if store is not None else None)

    def listed(self, status: str) -> list[StoredExample] | list[StoredRejection]:
        return self.rejected_order if status == "rejected" else self.order

    def choices(self, status: str = "accepted") -> dict[str, list[str]]:
        """Each filter's values among the examples of one status (accepted or rejected)."""
        out: dict[str, set[str]] = {k: set() for k in FILTERS}
        for stored in self.listed(status):
            for key, value in facets(stored).items():
                out[key].add(value)
        return {k: sorted(v) for k, v in out.items()}

    def select(self, wanted: Mapping[str, str]) -> Iterator[StoredExample | StoredRejection]:
        """The examples of `wanted["status"]` (accepted unless it says rejected) matching the other filters."""
        picks = {k: v for k, v in wanted.items() if k in FILTERS and v}
        for stored in self.listed(wanted.get("status", "accepted")):
            got = facets(stored)
            if all(got[k] == v for k, v in picks.items()):
                yield stored

    def frame(self, example_id: str, n: int) -> Frame | None:
        """Key frame `n` (in the order of the example's frames) or None when there is none to show."""
        stored = self.examples.get(example_id)
        if stored is None or not 0 <= n < len(stored.example.frames):
            return None
        ref = stored.example.frames[n]
        media_type = _media_type(ref.uri)
        embedded = self.embedded(stored, ref.sha256)
        if embedded is not None:
            return Frame(embedded, media_type)
        if self.frames is None:
            return None
        cell = self.frames.cell(ref)  # URI policy, size cap, sha256 and image checks
        return Frame(cell.data, media_type) if cell.data is not None else None

    def embedded(self, stored: StoredExample, sha256: str) -> bytes | None:
        table = pq.read_table(
            stored.path,
            columns=["example_id", "frames", "frame_refs"],
            filters=[("example_id", "=", stored.example.example_id)],
            partitioning=None,
        )
        for row in table.to_pylist()[:1]:
            cells = [f for f in row["frame_refs"] or [] if f["embedded"]]
            for ref, cell in zip(cells, row["frames"] or []):
                if ref["sha256"] == sha256 and cell["bytes"] is not None:
                    return bytes(cell["bytes"])
        return None


_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


def _media_type(uri: str) -> str:
    tail = uri.rsplit("/", 1)[-1]
    return _TYPES.get(tail.rsplit(".", 1)[-1].lower() if "." in tail else "", "application/octet-stream")
