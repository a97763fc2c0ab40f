"""Retention of spilled media and key frames: the worker's sweep timer and the stores it prunes.

Each sweep deletes, per store, at most `retention_max_deletions` files last written more than that store's
age ago (`core.blob_retention.prune_blobs`), on the `retention` stage's own thread: listing and deleting
thousands of files never holds the event loop. Workers sharing a store all sweep it; a file another worker
deleted first is simply gone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faust

from core.blob_retention import PruneReport, prune_blobs, root_key
from core.blobstore import BlobStore
from core.metrics import TailorMetrics
from streaming import executors
from streaming.settings import TailorSettings

log = logging.getLogger(__name__)

STORES = ("media", "frames")


@dataclass(frozen=True)
class RetentionTarget:
    """One store and its age (seconds; 0: kept for ever)."""

    label: str  # the metrics' `store` label
    store: BlobStore
    older_than_s: float
    labels: tuple[str, ...]  # every store setting naming this folder (`label` among them)

    @property
    def name(self) -> str:
        return " and ".join(self.labels)


def retention_targets(settings: TailorSettings, older_than_s: float | None = None) -> list[RetentionTarget]:
    """The blob store (spilled media) and the frame store (key frames) with their ages from the settings, or
    both with `older_than_s`; a store whose age is 0 is left out. When both settings name one folder it is
    one target, at the longer age (0 wins: kept for ever), so key frames never go at the media's age."""
    from streaming.anchor_stage import frame_store
    from streaming.app import blob_store

    ages = {"media": settings.media_retention_s, "frames": settings.frame_retention_s}
    if older_than_s is not None:
        ages = dict.fromkeys(ages, older_than_s)
    stores = {"media": blob_store(settings), "frames": frame_store(settings)}
    groups: dict[str, list[str]] = {}
    for label in STORES:
        groups.setdefault(root_key(stores[label].root_uri), []).append(label)
    targets = []
    for labels in groups.values():
        kept = any(ages[x] <= 0 for x in labels)
        label = max(labels, key=lambda x: ages[x])
        if len(labels) > 1:
            log.warning(
                "retention: the %s stores share %s: swept once, %s",
                " and ".join(labels),
                stores[label].root_uri,
                "never (one of them keeps files for ever)"
                if kept
                else f"at the longer age ({ages[label]:g}s)",
            )
        if not kept:
            targets.append(RetentionTarget(label, stores[label], ages[label], tuple(labels)))
    return targets


async def sweep_retention(
    targets: list[RetentionTarget], max_deletions: int, metrics: TailorMetrics
) -> dict[str, PruneReport]:
    """One tick of the retention sweep: each store pruned on the retention stage's thread, counted."""
    reports = {}
    for t in targets:
        try:
            report = await executors.in_stage(
                "retention", prune_blobs, t.store, t.older_than_s, max_deletions
            )
        except Exception:  # the timer must never crash the worker
            log.exception("retention sweep of %s failed", t.store.root_uri)
            metrics.stage_dropped.labels("retention", "internal_error").inc()
            continue
        reports[t.label] = report
        metrics.blob_pruned.labels(t.label).inc(len(report.deleted))
        metrics.blob_pruned_bytes.labels(t.label).inc(report.deleted_bytes)
        for reason, n in (("no_time", report.no_time), ("failed", report.failed)):
            if n:
                metrics.blob_prune_skipped.labels(t.label, reason).inc(n)
        if report.deleted or report.failed:
            log.info(
                "retention: %s: deleted %d files (%d bytes) older than %gs%s%s",
                t.store.root_uri,
                len(report.deleted),
                report.deleted_bytes,
                t.older_than_s,
                f", {report.failed} refused" if report.failed else "",
                ", more next sweep" if report.truncated else "",
            )
    return reports


def register_retention(app: faust.App, settings: TailorSettings, metrics: TailorMetrics) -> None:
    """The worker's retention timer (none when both stores keep everything)."""
    targets = retention_targets(settings)
    if not targets:
        return

    @app.timer(settings.retention_sweep_interval_s, name="tailor.blob_retention")
    async def sweep() -> None:
        await sweep_retention(targets, settings.retention_max_deletions, metrics)


def prune_now(
    settings: TailorSettings,
    older_than_s: float | None = None,
    dry_run: bool = False,
    stores: tuple[str, ...] = STORES,
) -> dict[str, PruneReport | None]:
    """`tailor blobs prune`: each named store pruned at once, with no cap on deletions, by its age from the
    settings or `older_than_s`; None for a store kept for ever (age 0). Keys are the store names ("media and
    frames" for one folder named by both settings, pruned once)."""
    targets = retention_targets(settings, older_than_s)
    out: dict[str, PruneReport | None] = {}
    for label in stores:
        target = next((t for t in targets if label in t.labels), None)
        if target is None:
            out[label] = None
        elif target.name not in out:
            out[target.name] = prune_blobs(target.store, target.older_than_s, None, dry_run)
    return out
