"""`tailor replay`: publish recorded files as live streams, keeping their timing scaled by a rate.

One refused recording does not sink the others: a path that cannot be opened, or a source whose reader
raises part way, is set aside with its reason (`ReplayResult.skipped`) while every other recording is
published in full; the CLI lists what was skipped at the end and exits non-zero.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import TailorError
from core.records import MediaRef
from streaming.app import blob_store
from streaming.producer import TailorProducer
from streaming.replay.base import ReplayError, ReplayEvent, ReplaySource
from streaming.replay.detect import open_sources
from streaming.replay.licences import with_licence
from streaming.replay.licences_config import LicenceConfig
from streaming.replay.mapping import load_replay_mapping
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics, spec_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Skipped:
    """A recording left out (or cut short) and why; `published` records of it went out before the error."""

    path: Path
    reason: str
    detail: str
    published: int = 0

    def __str__(self) -> str:
        what = f"stopped after {self.published} records" if self.published else "skipped"
        return f"{what}: {self.path}: {self.reason}: {self.detail}"


@dataclass(frozen=True)
class ReplayResult:
    published: int
    sources: int
    seconds: float
    skipped: tuple[Skipped, ...] = field(default=())


def media_factory(settings: TailorSettings):  # type: ignore[no-untyped-def]
    """Inline media up to the cap; larger media goes to the blob store (claim check)."""
    blobs = blob_store(settings)

    def make(data: bytes, media_type: str, width: int | None, height: int | None) -> MediaRef:
        if len(data) <= settings.max_inline_bytes:
            return MediaRef.inline(data, media_type, width, height)
        return blobs.put(data, media_type, width, height)

    return make


def _merged(
    sources: list[ReplaySource],
    t0: float,
    rate: float,
    round_no: int,
    settings: TailorSettings,
    keys: frozenset[str] = frozenset(),
    failed: dict[int, Skipped] | None = None,
) -> Iterator[ReplayEvent]:
    """The sources' events in time order; with `failed`, a source whose reader raises a TailorError is
    recorded there (by its index in `sources`) and left out while the others go on."""
    if failed is None:
        streams = [src.events(t0, rate or 1.0) for src in sources]
    else:
        streams = [_guarded(i, src, t0, rate, failed) for i, src in enumerate(sources) if i not in failed]
    merged = heapq.merge(*streams, key=lambda ev: ev.at_s)
    for ev in merged:
        if keys and ev.key not in keys:
            continue
        if round_no == 0:
            yield ev
            continue
        spec = spec_for(settings, type(ev.record))
        key = f"{ev.key}-r{round_no}"
        yield ReplayEvent(key, ev.record.model_copy(update={spec.key_field: key}), ev.at_s)


def _guarded(
    index: int, source: ReplaySource, t0: float, rate: float, failed: dict[int, Skipped]
) -> Iterator[ReplayEvent]:
    sent = 0
    try:
        for ev in source.events(t0, rate or 1.0):
            yield ev
            sent += 1
    except TailorError as exc:
        # The reader's own labelled refusal (bad or damaged input): the other sources are still good.
        log.warning("replay %s: %s", source.path, exc)
        failed[index] = Skipped(source.path, exc.reason, exc.detail, sent)


def replay(settings: TailorSettings, config: ReplayConfig) -> ReplayResult:
    assert settings.kafka_bootstrap is not None
    ensure_topics(settings, settings, settings.kafka_bootstrap, max_message_bytes=settings.max_message_bytes)
    source_config = load_replay_mapping(config.mapping) if config.mapping else None
    refused: list[tuple[Path, ReplayError]] = []
    sources = open_sources(
        config.paths,
        config.kind,
        media_factory(settings),
        settings,
        config.segment_seconds,
        config=source_config,
        refused=refused,
    )
    failed: dict[int, Skipped] = {}
    started = time.monotonic()
    published = 0
    licences = LicenceConfig(licence=config.licence)
    progress = _progress(config.progress)
    task = progress.add_task("replay", total=None) if progress else None
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as producer:
        if progress:
            progress.start()
        try:
            round_no = config.first_round
            while True:
                t0 = time.time()
                clock0 = time.monotonic()
                merged = _merged(sources, t0, config.rate, round_no, settings, frozenset(config.keys), failed)
                for ev in merged:
                    if config.rate > 0:
                        delay = clock0 + ev.at_s / config.rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    producer.send(with_licence(ev.record, licences))
                    published += 1
                    if progress and task is not None:
                        progress.update(task, advance=1, description=f"replay {ev.key}")
                producer.flush()
                round_no += 1
                if (
                    not config.loop
                    or len(failed) == len(sources)
                    or (config.max_rounds is not None and round_no - config.first_round >= config.max_rounds)
                ):
                    break
        finally:
            if progress:
                progress.stop()
    skipped = [Skipped(path, e.reason, e.detail) for path, e in refused]
    skipped += [failed[i] for i in sorted(failed)]
    return ReplayResult(
        published=published,
        sources=len(sources),
        seconds=time.monotonic() - started,
        skipped=tuple(skipped),
    )


def _progress(enabled: bool):  # type: ignore[no-untyped-def]
    if not enabled:
        return None
    from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), MofNCompleteColumn(), TimeElapsedColumn()
    )
