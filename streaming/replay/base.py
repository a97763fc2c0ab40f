"""Replay sources: readers that turn recorded files into Tailor raw records with their original timing.

A source owns one recording (a file or a dataset folder). `events(t0, rate)` yields `ReplayEvent`s in
the recording's order; every key (stream, session or episode id) comes out complete and in order, and
each record's wall-clock time is `t0 + at_s / rate`. Bad input raises `ReplayError(reason, detail)`
before any event of the affected key is yielded wherever the format allows it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Protocol, TypeVar

from pydantic import ValidationError

from core.errors import TailorError
from core.limits_config import LimitsConfig
from core.records import GuiStep, MediaRef, RobotStep, TailorRecord, VideoSegment
from streaming.replay.source_config import ReplaySourceConfig

log = logging.getLogger(__name__)

SourceKind = Literal["video", "gui", "robot"]

MediaFactory = Callable[[bytes, str, int | None, int | None], MediaRef]
"""(data, media_type, width, height) -> MediaRef; decides inline bytes vs claim check."""


class ReplayError(TailorError, ValueError):
    """A recording that cannot be replayed; `reason` is a short metric / log label."""


@dataclass(frozen=True)
class ReplayEvent:
    key: str
    """Kafka key: stream_id / session_id / episode_id."""
    record: TailorRecord
    """VideoSegment | GuiStep | RobotStep."""
    at_s: float
    """Seconds since the start of this recording (original timing, used for pacing)."""


def wall_time(t0: float, at_s: float, rate: float) -> float:
    """Wall-clock time of an item recorded `at_s` seconds in, replayed from `t0` at speed `rate`."""
    if rate <= 0:
        raise ReplayError("bad_rate", f"replay rate must be > 0, got {rate}")
    return t0 + at_s / rate


class _Draft(Protocol):
    @property
    def at_s(self) -> float: ...


D = TypeVar("D", bound=_Draft)


def build_all(drafts: Sequence[D], build: Callable[[D], TailorRecord], what: str) -> list[ReplayEvent]:
    """Records of one whole key, all validated before the first is handed out (a key is all or nothing)."""
    events = []
    for draft in drafts:
        try:
            record = build(draft)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise ReplayError("schema_mismatch", f"{what}: {where}: {first.get('msg')}"[:500]) from None
        events.append(ReplayEvent(key=_key(record), record=record, at_s=draft.at_s))
    return events


def _key(record: TailorRecord) -> str:
    for name in ("episode_id", "session_id", "stream_id"):
        value = getattr(record, name, None)
        if isinstance(value, str):
            return value
    raise ReplayError("schema_mismatch", f"{type(record).__name__} has no key field")


class ReplaySource(ABC):
    """One recording. Subclasses decide how to read their format in `events`."""

    kind: ClassVar[SourceKind]
    record_type: ClassVar[type[VideoSegment | GuiStep | RobotStep]]
    format_name: ClassVar[str] = "unknown"

    def __init__(
        self,
        path: Path,
        media: MediaFactory,
        limits: LimitsConfig,
        config: ReplaySourceConfig | None = None,
    ) -> None:
        self.path = path
        self.media = media
        self.limits = limits
        self.config = config or ReplaySourceConfig()

    @classmethod
    def accepts(cls, path: Path) -> bool:
        """True when `path` looks like this source's format (cheap: names and a few header bytes)."""
        return False

    @abstractmethod
    def events(self, t0: float, rate: float) -> Iterator[ReplayEvent]:
        """Yield events in original order; record timestamps/event_time = t0 + at_s / rate."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


def open_sources(
    paths: list[Path],
    kind: str | None,
    media: MediaFactory,
    limits: LimitsConfig,
    segment_s: float | None = None,
    *,
    config: ReplaySourceConfig | None = None,
    refused: list[tuple[Path, ReplayError]] | None = None,
) -> list[ReplaySource]:
    """One source per recording under `paths` (format detected when `kind` is None); see `detect`."""
    from streaming.replay.detect import open_sources as _open  # the readers import this module

    return _open(paths, kind, media, limits, segment_s, config=config, refused=refused)
