"""The recordings the refinement benchmark holds out: the learning loop never trains on them.

The benchmark (`bench/`) splits its cases by source recording (an episode, a GUI session, a video file);
its heldout recordings are listed in `trainer/heldout_recordings.json`, which `python -m bench.build_cases
... --heldout-list trainer/heldout_recordings.json` writes with the case set (a test checks the two agree).
This module reads that file without importing `bench`, so the trainer (and its container image, which has
no `bench/`) can drop every candidate group whose window comes from a heldout recording.

A live window belongs to a recording when its AnchorSet's (domain, key) is listed: the replay readers give a
recording the same stream key live and in the benchmark (`<tfrecord stem>:<episode>`, the LeRobot folder and
episode, the AITW episode id, the Mind2Web annotation id, the video file stem). A replay round above the
first suffixes each key with `-rN` (`tailor replay --loop`, the demo's second pass): still the same recording,
so the suffix is stripped before the lookup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from core.records import AnchorSet

HELDOUT_FILE = Path(__file__).resolve().parent / "heldout_recordings.json"
SCHEMA_VERSION = 1
_ROUND_SUFFIX = re.compile(r"-r\d+$")

G = TypeVar("G")


class HeldoutListError(ValueError):
    """The heldout list cannot be read (the trainer refuses to train rather than risk a leak)."""


def recording_key(key: str) -> str:
    """The recording's stream key without the replay round's `-rN` suffix."""
    return _ROUND_SUFFIX.sub("", key)


@dataclass(frozen=True)
class HeldoutRecording:
    domain: str
    key: str  # the stream key (episode, session or stream id) the replay readers give the recording
    recording: str  # `root:path#key`, as the benchmark names it


@dataclass(frozen=True)
class HeldoutRecordings:
    case_set: str
    recordings: tuple[HeldoutRecording, ...]

    @classmethod
    def load(cls, path: Path | None = None) -> HeldoutRecordings:
        file = path or HELDOUT_FILE
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            if data.get("schema_version") != SCHEMA_VERSION:
                raise HeldoutListError(
                    f"{file}: schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}"
                )
            recs = tuple(
                HeldoutRecording(str(r["domain"]), str(r["key"]), str(r["recording"]))
                for r in data["recordings"]
            )
            return cls(str(data["case_set"]), recs)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, HeldoutListError):
                raise
            raise HeldoutListError(f"cannot read the heldout recordings list {file}: {exc}") from None

    @property
    def keys(self) -> frozenset[tuple[str, str]]:
        return frozenset((r.domain, r.key) for r in self.recordings)

    def holds(self, anchors: AnchorSet) -> bool:
        """True when the window comes from a heldout recording."""
        return (anchors.domain, recording_key(anchors.key)) in self.keys

    def partition(self, items: Iterable[G], anchors_of: Callable[[G], AnchorSet]) -> tuple[list[G], list[G]]:
        """(kept, dropped): `anchors_of(item)` gives each item's AnchorSet."""
        keys = self.keys
        kept: list[G] = []
        dropped: list[G] = []
        for item in items:
            a = anchors_of(item)
            (dropped if (a.domain, recording_key(a.key)) in keys else kept).append(item)
        return kept, dropped


def heldout_fields(case_set: str, recordings: Sequence[HeldoutRecording]) -> dict[str, Any]:
    """The file's JSON content."""
    rows = sorted({(r.domain, r.key, r.recording) for r in recordings})
    return {
        "schema_version": SCHEMA_VERSION,
        "case_set": case_set,
        "recordings": [{"domain": d, "key": k, "recording": rec} for d, k, rec in rows],
    }


def write_heldout_list(path: Path, case_set: str, recordings: Sequence[HeldoutRecording]) -> None:
    path.write_text(
        json.dumps(heldout_fields(case_set, recordings), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
