"""`tailor feedback`: send downstream results (an example's utility, a batch metric with the batch's example
ids, a preference between two examples, or a JSONL file of them) to the feedback topic. Everything is
checked by the trainer's feedback readers before anything is sent; a refusal prints one line, exit 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from app.cli_common import fail, settings_or_exit
from core.errors import TailorError
from core.records import Feedback

_SOURCE = click.option(
    "--source", default="user", show_default=True, help="Who measured it (a job or team name)."
)
_ID = click.option("--id", "feedback_id", default=None, help="Feedback id [default: a hash of the content].")


@click.group()
def feedback() -> None:
    """Send downstream results to the trainer (topic tailor.feedback)."""


def _send(build: Callable[[], list[Feedback]]) -> None:
    """Build the records, check them, publish them; one line either way (exit 1 on a refusal)."""
    from streaming.feedback_publish import check, send_feedback
    from streaming.runtime import NoBrokerError, resolve_bootstrap

    settings = settings_or_exit()
    try:
        records = build()
        check(records)  # before the broker is looked for: malformed input is refused even with none up
        sent = send_feedback(resolve_bootstrap(settings), records)
    except (TailorError, NoBrokerError, OSError) as exc:
        fail(exc)
        return
    ids = ", ".join(fb.feedback_id for fb in records[:3]) + (" ..." if len(records) > 3 else "")
    click.echo(f"sent {sent} feedback records to {settings.topic_feedback} ({ids})")


@feedback.command("utility")
@click.argument("value", type=float)
@click.argument("example_ids", nargs=-1, required=True)
@_SOURCE
@_ID
def utility(value: float, example_ids: tuple[str, ...], source: str, feedback_id: str | None) -> None:
    """How useful the examples EXAMPLE_IDS were, as one number VALUE (higher is better)."""
    from streaming.feedback_publish import make_feedback

    _send(
        lambda: [
            make_feedback(
                kind="example_utility",
                utility=value,
                example_ids=list(example_ids),
                source=source,
                feedback_id=feedback_id,
            )
        ]
    )


@feedback.command("metric")
@click.argument("metric")
@click.argument("value", type=float)
@click.argument("example_ids", nargs=-1, required=True)
@_SOURCE
@_ID
def metric(
    metric: str, value: float, example_ids: tuple[str, ...], source: str, feedback_id: str | None
) -> None:
    """A batch's METRIC (e.g. eval_loss) and its VALUE, with the ids of the examples in the batch."""
    from streaming.feedback_publish import make_feedback

    _send(
        lambda: [
            make_feedback(
                kind="batch_metric",
                metric=metric,
                value=value,
                example_ids=list(example_ids),
                source=source,
                feedback_id=feedback_id,
            )
        ]
    )


@feedback.command("prefer")
@click.argument("chosen_id")
@click.argument("rejected_id")
@_SOURCE
@_ID
def prefer(chosen_id: str, rejected_id: str, source: str, feedback_id: str | None) -> None:
    """CHOSEN_ID is a better example than REJECTED_ID."""
    from streaming.feedback_publish import make_feedback

    _send(
        lambda: [
            make_feedback(
                kind="preference",
                chosen_id=chosen_id,
                rejected_id=rejected_id,
                source=source,
                feedback_id=feedback_id,
            )
        ]
    )


@feedback.command("file")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", default=None, help="Who measured it, for records that name no source.")
def from_file(path: Path, source: str | None) -> None:
    """Send the Feedback records of a JSONL file (one object a line; feedback_id and created_at optional).
    One bad record refuses the whole file."""
    from streaming.feedback_publish import read_jsonl

    _send(lambda: read_jsonl(path, source))
