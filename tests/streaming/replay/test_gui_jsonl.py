"""The documented GUI JSONL format (docs/formats/gui_jsonl.md), written here around real AITW screenshots."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from core.limits_config import LimitsConfig
from core.records import GuiStep
from streaming.replay.base import ReplayError
from streaming.replay.gui_jsonl import GuiJsonlSource
from tests.streaming.replay.conftest import RecordingMedia

AITW = Path("gui/aitw/GOOGLE_APPS-523638528775825151")
STEM = "GOOGLE_APPS-523638528775825151"


@pytest.fixture
def recording(data_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "rec"
    (folder / "shots").mkdir(parents=True)
    for i in range(4):
        shutil.copy(data_dir / AITW / f"{STEM}_{i}.png", folder / "shots" / f"{i}.png")
    return folder


def _write(folder: Path, lines: list[Any]) -> Path:
    path = folder / "steps.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def _two_sessions() -> list[dict[str, Any]]:
    return [
        {
            "session_id": "a",
            "step_index": 0,
            "t": 0.0,
            "screenshot": "shots/0.png",
            "action": {"type": "home"},
            "instruction": "open the clock",
        },
        {"session_id": "b", "step_index": 0, "t": 0.5, "action": {"type": "type", "text": "hello"}},
        {
            "session_id": "a",
            "step_index": 1,
            "t": 1.0,
            "screenshot": "shots/1.png",
            "action": {"type": "scroll", "x": 137, "y": 325, "end_x": 156, "end_y": 1},
        },
        {
            "session_id": "a",
            "step_index": 2,
            "t": 2.5,
            "screenshot": "shots/2.png",
            "action": {
                "type": "click",
                "x": 164,
                "y": 299,
                "target": {"text": "Clock", "bbox": {"x": 150, "y": 280, "w": 30, "h": 30}},
            },
        },
        {"session_id": "b", "step_index": 1, "t": 2.0, "action": {"type": "enter"}},
    ]


def test_sessions_interleave_in_time_order(recording: Path) -> None:
    path = _write(recording, _two_sessions())
    assert GuiJsonlSource.accepts(path) and GuiJsonlSource.accepts(recording)
    media = RecordingMedia()
    events = list(GuiJsonlSource(recording, media, LimitsConfig()).events(1000.0, 2.0))
    steps = [ev.record for ev in events]
    assert all(isinstance(s, GuiStep) for s in steps)
    assert [(ev.key, ev.at_s) for ev in events] == [
        ("a", 0.0),
        ("b", 0.5),
        ("a", 1.0),
        ("b", 2.0),
        ("a", 2.5),
    ]
    assert [s.timestamp for s in steps] == [1000.0, 1000.25, 1000.5, 1001.0, 1001.25]  # type: ignore[attr-defined]
    by_key = {k: [s for s in steps if s.session_id == k] for k in "ab"}  # type: ignore[attr-defined]
    assert [s.is_last for s in by_key["a"]] == [False, False, True]  # type: ignore[attr-defined]
    assert [s.is_last for s in by_key["b"]] == [False, True]  # type: ignore[attr-defined]
    click = by_key["a"][2]
    assert isinstance(click, GuiStep) and click.action.target and click.action.target.text == "Clock"
    assert click.screenshot is not None and (click.screenshot.width, click.screenshot.height) == (270, 600)
    assert click.screenshot.data == (recording / "shots" / "2.png").read_bytes()
    assert by_key["b"][0].screenshot is None  # type: ignore[attr-defined]
    assert media.calls == [
        (len((recording / "shots" / f"{i}.png").read_bytes()), "image/png", 270, 600) for i in range(3)
    ]


def test_default_timing_is_line_order(recording: Path) -> None:
    lines = [{"session_id": "s", "step_index": i, "action": {"type": "wait"}} for i in range(3)]
    _write(recording, ["", *lines])
    events = list(
        GuiJsonlSource(recording / "steps.jsonl", RecordingMedia(), LimitsConfig()).events(0.0, 1.0)
    )
    assert [ev.at_s for ev in events] == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda ls: ls.__setitem__(2, {**ls[2], "action": {"type": "click", "x": float("nan"), "y": 3}}),
            "nonfinite_vector",
        ),
        (lambda ls: ls.__setitem__(2, {**ls[2], "step_index": 0}), "out_of_order_steps"),
        (lambda ls: ls.__setitem__(3, {**ls[3], "t": 0.5}), "out_of_order_steps"),
        (lambda ls: ls.__setitem__(0, {**ls[0], "screenshot": "../../etc/passwd"}), "path_outside_dataset"),
        (lambda ls: ls.__setitem__(0, {**ls[0], "screenshot": "shots/missing.png"}), "missing_file"),
        (lambda ls: ls.__setitem__(1, {**ls[1], "clicks": 2}), "schema_mismatch"),
        (lambda ls: ls.__setitem__(1, {**ls[1], "session_id": "has/slash"}), "schema_mismatch"),
        (lambda ls: ls.__setitem__(1, "{not json"), "bad_json"),
    ],
)
def test_bad_lines_fail_the_whole_file(recording: Path, change: Any, reason: str) -> None:
    lines: list[Any] = _two_sessions()
    change(lines)
    _write(recording, lines)
    got = []
    with pytest.raises(ReplayError) as err:
        for ev in GuiJsonlSource(recording, RecordingMedia(), LimitsConfig()).events(0.0, 1.0):
            got.append(ev)
    assert err.value.reason == reason
    assert got == []  # checked before anything is sent


def test_text_cap(recording: Path) -> None:
    _write(recording, [{"session_id": "s", "step_index": 0, "action": {"type": "done"}, "html": "x" * 500}])
    with pytest.raises(ReplayError) as err:
        next(GuiJsonlSource(recording, RecordingMedia(), LimitsConfig(max_text_chars=100)).events(0.0, 1.0))
    assert err.value.reason == "text_too_long"
