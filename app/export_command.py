"""The `tailor export` command: options → ExportConfig → app.export_cli.run_export."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from pydantic import ValidationError

from app.cli_common import fail, field_help, settings_or_exit
from core.errors import TailorError
from streaming.sinks.exports_config import ExportConfig

_TIME = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"])


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(["sft", "preference", "grpo"]), default="sft", show_default=True
)
@click.option(
    "--from",
    "dataset_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The Parquet dataset to read [default: the sink's, examples_dir or data_dir/examples].",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="JSONL file to write.")
@click.option("--family", "families_only", multiple=True, help="Only these task families (repeatable).")
@click.option("--intent", "intents", multiple=True, help=field_help(ExportConfig, "intent_ids"))
@click.option(
    "--weights-version", "versions", multiple=True, help=field_help(ExportConfig, "weights_versions")
)
@click.option("--since", type=_TIME, default=None, help=field_help(ExportConfig, "created_after"))
@click.option("--until", type=_TIME, default=None, help=field_help(ExportConfig, "created_before"))
@click.option("--min-reward", type=float, default=None, help=field_help(ExportConfig, "min_reward"))
@click.option("--reward-term", default="r_total", help=field_help(ExportConfig, "reward_term"))
@click.option("--images", is_flag=True, help=field_help(ExportConfig, "include_images"))
@click.option(
    "--pairs",
    "pairs_file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Preference pairs: Feedback JSONL or {chosen_id, rejected_id} lines.",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Never contact the broker: rows older than sink schema 3 (no stored prompt) are skipped and counted.",
)
def export(
    fmt: str,
    dataset_dir: Path | None,
    out: Path,
    families_only: tuple[str, ...],
    intents: tuple[str, ...],
    versions: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    min_reward: float | None,
    reward_term: str,
    images: bool,
    pairs_file: Path | None,
    offline: bool,
) -> None:
    """Export the Parquet examples as chat JSONL (SFT), TRL preference pairs or GRPO prompts.

    Rows carry their prompts (sink schema 3), so this reads the dataset alone; the broker is asked only for
    the prompts of older rows."""
    from app.export_cli import default_dataset, run_export

    settings = settings_or_exit()
    try:
        config = ExportConfig(
            dataset_dir=dataset_dir or default_dataset(settings),
            out=out,
            format=fmt,  # type: ignore[arg-type]
            task_families=list(families_only) or None,
            intent_ids=list(intents) or None,
            weights_versions=list(versions) or None,
            created_after=since,
            created_before=until,
            min_reward=min_reward,
            reward_term=reward_term,
            include_images=images,
            pairs_file=pairs_file,
        )
        stats = run_export(settings, config, offline=offline)
    except (TailorError, ValidationError, ValueError, OSError) as exc:
        fail(exc)
        return
    filtered = f"; filtered out {dict(stats.filtered)}" if stats.filtered else ""
    click.echo(f"wrote {stats.written} records to {stats.out}; skipped {dict(stats.skipped)}{filtered}")
