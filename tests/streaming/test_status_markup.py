"""`tailor status` prints strings that came from topics (dead letters, examples' model and weights, consumer
group names) as they are: Rich markup in them is text, not styling, links or a crash."""

from __future__ import annotations

import pytest

from app.status import GroupLag, ModelUse, Status, render_status
from core.records import DeadLetter

HOSTILE = "[/x] [link=http://evil]y[/link]"


def test_topic_strings_render_literally(capsys: pytest.CaptureFixture[str]) -> None:
    letter = DeadLetter(
        reason="[bold]r[/bold]",
        detail=HOSTILE,
        stage="[/stage]",
        source_topic="[red]t",
        source_partition=0,
        source_offset=3,
        payload=b"",
        payload_size=0,
        truncated=False,
        worker="w",
        created_at=0.0,
    )
    status = Status(
        highwater={("[i]topic", 0): 5},
        groups=[GroupLag("[/g]", {("[i]topic", 0): 2})],
        dead_letters=[letter],
        models=[ModelUse("[link=http://evil]model[/link]", "[/v]", 2, 1, 3)],
    )
    render_status(status)  # a closing tag that opens nothing made Rich raise MarkupError here
    out = capsys.readouterr().out
    for text in (HOSTILE, "[bold]r[/bold]", "[/stage]", "[red]t/0/3", "[i]topic", "[/g]"):
        assert text in out, text
    assert "[link=http://evil]model[/link]" in out and "[/v]" in out


def test_the_synthesis_table_shows_a_model_name_with_markup_as_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No closing tag here, so nothing crashes: as markup the link was hidden and only "model" printed."""
    status = Status({}, [], [], [ModelUse("[link=http://evil]model[/link]", "[b]v1[/b]", 2, 1, 3)])
    render_status(status)
    out = capsys.readouterr().out
    assert "[link=http://evil]model[/link]" in out and "[b]v1[/b]" in out
