"""`tailor blobs prune`: delete spilled media and key frames past their retention, now (the worker's sweep
does it on a timer, in bounded steps)."""

from __future__ import annotations

import click

from app.cli_common import fail, settings_or_exit
from core.blob_retention_config import RetentionConfig

_AGES = RetentionConfig.model_fields


@click.group()
def blobs() -> None:
    """The blob store (spilled media) and the frame store (key frames)."""


@blobs.command("prune")
@click.option(
    "--older-than",
    "older_than_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Delete the files last written more than this many seconds ago, in each store pruned [default: "
    f"TAILOR_MEDIA_RETENTION_S for media ({_AGES['media_retention_s'].default:.0f}), TAILOR_FRAME_RETENTION_S "
    f"for key frames ({_AGES['frame_retention_s'].default:.0f}); a store whose setting is 0 is kept].",
)
@click.option(
    "--store",
    type=click.Choice(["media", "frames", "all"]),
    default="all",
    show_default=True,
    help="Which store to prune.",
)
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
def prune(older_than_s: float | None, store: str, dry_run: bool) -> None:
    """Delete the stores' files older than their retention (all of them: no per-sweep cap). Only the
    stores' own `xx/<sha256>.<ext>` files are touched; links and other files are left alone."""
    from streaming.retention import STORES, prune_now

    settings = settings_or_exit()
    try:
        reports = prune_now(settings, older_than_s, dry_run, STORES if store == "all" else (store,))
    except OSError as exc:
        fail(exc)
        return
    verb = "would delete" if dry_run else "deleted"
    for label, report in reports.items():
        if report is None:
            click.echo(f"{label}: kept for ever (its retention is 0; --older-than prunes it)")
            continue
        for path in report.deleted if dry_run else ():
            click.echo(path)
        notes = [f"{report.kept} younger kept"]
        notes += [
            f"{n} {what}"
            for n, what in (
                (report.ignored, "other entries ignored"),
                (report.no_time, "with no time kept"),
                (report.failed, "refused"),
            )
            if n
        ]
        click.echo(
            f"{label} ({report.root_uri}): {verb} {len(report.deleted)} files, {report.deleted_bytes} bytes; "
            + ", ".join(notes)
        )
