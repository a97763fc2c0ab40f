"""Helpers of the GUI expert tests: where the shared real data lives, and small step builders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from agents.extractors.gui.window import GuiWindow
from core.limits_config import LimitsConfig
from core.records import GuiAction, GuiStep, MediaRef, TailorRecord
from streaming.replay.base import open_sources

SHARED = Path(__file__).resolve().parents[4] / ".." / "shared"
AITW_DIR = SHARED / "data" / "gui" / "aitw" / "GOOGLE_APPS-523638528775825151"
MIND2WEB_DIR = SHARED / "data" / "gui" / "mind2web" / "thumbtack-wedding-photographer"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (expected the shared data folder beside the repo)")
    return path


def png_ref(data: bytes) -> MediaRef:
    return MediaRef.inline(data, "image/png")


def step(
    i: int,
    action: GuiAction,
    *,
    session: str = "s1",
    screenshot: MediaRef | None = None,
    app: str | None = None,
    url: str | None = None,
    instruction: str | None = None,
    accessibility: str | None = None,
) -> GuiStep:
    return GuiStep(
        session_id=session,
        step_index=i,
        timestamp=1000.0 + i,
        screenshot=screenshot,
        action=action,
        app=app,
        url=url,
        instruction=instruction,
        accessibility=accessibility,
    )


def window(steps: Sequence[GuiStep]) -> GuiWindow:
    return GuiWindow.of(steps)


def replay_steps(path: Path, kind: str) -> dict[str, list[TailorRecord]]:
    """Records per key, read from a real recording by the project's replay readers."""
    need(path)
    sources = open_sources([path], kind, lambda d, t, w, h: MediaRef.inline(d, t, w, h), LimitsConfig())
    out: dict[str, list[TailorRecord]] = {}
    for source in sources:
        for event in source.events(0.0, 1.0):
            out.setdefault(event.key, []).append(event.record)
    return out


def gui_windows(path: Path) -> dict[str, GuiWindow]:
    return {
        key: GuiWindow.of([r for r in records if isinstance(r, GuiStep)])
        for key, records in replay_steps(path, "gui").items()
    }
