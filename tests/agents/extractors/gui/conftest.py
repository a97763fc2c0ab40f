"""Fixtures of the GUI expert tests: real screenshots from ../shared."""

from __future__ import annotations

import pytest

from agents.extractors.gui.window import GuiWindow
from tests.agents.extractors.gui.helpers import AITW_DIR, MIND2WEB_DIR, gui_windows, need


@pytest.fixture(scope="session")
def aitw_pngs() -> list[bytes]:
    """The four real AITW screenshots (270x600 PNG)."""
    folder = need(AITW_DIR)
    return [(folder / f"{folder.name}_{i}.png").read_bytes() for i in range(4)]


@pytest.fixture(scope="session")
def mind2web_jpg() -> bytes:
    """The first third of the real Mind2Web page screenshot (1280 px wide JPEG)."""
    return (need(MIND2WEB_DIR) / "images" / "0.jpg").read_bytes()


@pytest.fixture(scope="session")
def aitw_window() -> GuiWindow:
    """The real AITW episode as GuiSteps from the replay reader (4 steps: home, scroll, tap, done)."""
    windows = gui_windows(AITW_DIR)
    assert len(windows) == 1
    return next(iter(windows.values()))


@pytest.fixture(scope="session")
def mind2web_window() -> GuiWindow:
    """The real Mind2Web task as GuiSteps: the two previous TYPE actions, then the gold CLICK."""
    windows = gui_windows(MIND2WEB_DIR)
    assert len(windows) == 1
    return next(iter(windows.values()))
