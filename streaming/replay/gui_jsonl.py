"""Tailor's simple GUI recording format: JSON lines plus screenshot files (docs/formats/gui_jsonl.md).

The whole file is read and checked first (every session complete, steps in order, screenshots
inside the recording's folder); then steps come out in time order, so concurrent sessions interleave
as they did when recorded, each session's steps in order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.records import GuiAction, GuiStep
from core.records.raw import ID_PATTERN
from streaming.replay.base import ReplayError, ReplayEvent, ReplaySource
from streaming.replay.checks import read_bytes
from streaming.replay.gui_steps import GuiStepDraft, emit_session, inside, load_screenshot

log = logging.getLogger(__name__)

STEPS_FILE = "steps.jsonl"
_MAX_FILE_BYTES = 1 << 30


class GuiJsonlLine(BaseModel):
    """One line of a GUI JSONL recording."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    session_id: str = Field(pattern=ID_PATTERN, description="Session / trajectory id (the Kafka key).")
    step_index: int = Field(ge=0, description="Step number within the session; strictly increasing.")
    t: float | None = Field(default=None, ge=0, description="Seconds since the recording started.")
    action: GuiAction = Field(description="The action taken at this step, coordinates in screenshot pixels.")
    screenshot: str | None = Field(
        default=None, description="Screen before the action: path relative to the file."
    )
    instruction: str | None = Field(default=None, description="Task instruction.")
    html: str | None = Field(default=None, description="Cleaned HTML of the page.")
    accessibility: str | None = Field(default=None, description="Accessibility tree or screen parse text.")
    app: str | None = Field(default=None, description="Foreground app or package.")
    url: str | None = Field(default=None, description="Page URL.")
    is_last: bool | None = Field(
        default=None, description="Final step of the session (default: its last line)."
    )
    source: str | None = Field(default=None, description="Recorder or dataset name.")


class GuiJsonlSource(ReplaySource):
    kind: ClassVar = "gui"
    record_type: ClassVar = GuiStep
    format_name: ClassVar[str] = "gui-jsonl"

    @classmethod
    def accepts(cls, path: Path) -> bool:
        file = path / STEPS_FILE if path.is_dir() else path
        if file.suffix.lower() != ".jsonl" or not file.is_file():
            return False
        try:
            with file.open("rb") as fh:
                first = fh.readline(1 << 20)
            row = json.loads(first)
        except (OSError, ValueError):
            return False
        return isinstance(row, dict) and "session_id" in row and "action" in row

    def events(self, t0: float, rate: float) -> Iterator[ReplayEvent]:
        file = self.path / STEPS_FILE if self.path.is_dir() else self.path
        lines = _lines(file)
        sessions: dict[str, list[tuple[int, GuiJsonlLine]]] = {}
        for n, line in lines:
            sessions.setdefault(line.session_id, []).append((n, line))
        ordered: list[tuple[float, int, ReplayEvent]] = []
        for rows in sessions.values():
            drafts = [self._draft(file, n, line, i == len(rows) - 1) for i, (n, line) in enumerate(rows)]
            events = list(emit_session(drafts, t0, rate, self.limits))
            ordered.extend((ev.at_s, n, ev) for (n, _), ev in zip(rows, events, strict=True))
        ordered.sort(key=lambda item: (item[0], item[1]))
        for _at, _n, event in ordered:
            yield event

    def _draft(self, file: Path, n: int, line: GuiJsonlLine, last: bool) -> GuiStepDraft:
        screenshot = None
        if line.screenshot:
            path = inside(file.parent, line.screenshot)
            screenshot, _w, _h = load_screenshot(path, self.media, self.limits)
        at_s = line.t if line.t is not None else n * self.config.gui_step_interval_s
        return GuiStepDraft(
            session_id=line.session_id,
            step_index=line.step_index,
            at_s=at_s,
            action=line.action,
            screenshot=screenshot,
            html=line.html,
            accessibility=line.accessibility,
            app=line.app,
            url=line.url,
            instruction=line.instruction,
            is_last=line.is_last if line.is_last is not None else last,
            source=line.source or "gui-jsonl",
        )


def _lines(file: Path) -> list[tuple[int, GuiJsonlLine]]:
    """(0-based position among non-blank lines, parsed line) for every line of the file."""
    out: list[tuple[int, GuiJsonlLine]] = []
    for number, raw in enumerate(read_bytes(file, _MAX_FILE_BYTES, "GUI JSONL").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            data: Any = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReplayError("bad_json", f"{file}:{number}: {exc}") from None
        try:
            out.append((len(out), GuiJsonlLine.model_validate(data)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            reason = "nonfinite_vector" if first.get("type") == "finite_number" else "schema_mismatch"
            raise ReplayError(reason, f"{file}:{number}: {where}: {first.get('msg')}"[:500]) from None
    if not out:
        raise ReplayError("empty_file", f"{file} holds no steps")
    return out
