"""App / site transition expert."""

from __future__ import annotations

from agents.extractors.gui.transitions import AppTransitionExtractor, url_domain
from core.records import GuiAction
from tests.agents.extractors.gui.helpers import step, window

CLICK = GuiAction(type="click", x=1, y=1)


def test_url_domain() -> None:
    assert url_domain("https://www.thumbtack.com/k/photographers?zip=10203") == "thumbtack.com"
    assert url_domain("maps.google.com/place") == "maps.google.com"
    assert url_domain("") is None and url_domain(None) is None
    assert url_domain("http://[::1") is None  # malformed: no crash


def test_app_and_url_changes_are_anchored_across_unknown_steps() -> None:
    w = window(
        [
            step(0, CLICK, app="com.android.launcher", url=None),
            step(1, CLICK, app=None),
            step(2, CLICK, app="com.google.clock"),
            step(3, CLICK, app="com.google.clock", url="https://www.amazon.com/a"),
            step(4, CLICK, url="https://amazon.com/b"),
            step(5, CLICK, url="https://ebay.com/"),
        ]
    )
    anchors = AppTransitionExtractor()(w)
    apps = [a for a in anchors if a.type == "app_transition"]
    urls = [a for a in anchors if a.type == "url_transition"]
    assert [(a.frame_index, a.end_frame_index, a.content) for a in apps] == [
        (0, 2, "com.android.launcher -> com.google.clock")
    ]
    assert [(a.frame_index, a.end_frame_index, a.content) for a in urls] == [(4, 5, "amazon.com -> ebay.com")]


def test_single_context_has_no_transitions() -> None:
    w = window([step(i, CLICK, app="a") for i in range(4)])
    assert AppTransitionExtractor()(w) == []
