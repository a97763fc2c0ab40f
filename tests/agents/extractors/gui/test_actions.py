"""GUI action expert: content strings, points, boxes, screen-parse targets, evidence."""

from __future__ import annotations

from agents.extractors.gui.actions import GuiActionExtractor, action_content, swipe_direction
from agents.extractors.gui.actions_config import GuiActionConfig
from agents.extractors.gui.screen_parse import nearest_element, parse_screen
from core.records import BBox, GuiAction, GuiTarget
from tests.agents.extractors.gui.helpers import step, window

SEARCH = GuiTarget(text="  Search\n on  Thumbtack ", role="button", bbox=BBox(x=587, y=596.5, w=93, h=54))


def test_content_is_compact_and_stable() -> None:
    click = GuiAction(type="click", target=SEARCH)
    typed = GuiAction(type="type", text='10203 "zip"', target=GuiTarget(text="Zip code", role="textbox"))
    assert action_content(click, click.target, 80) == 'click target="Search on Thumbtack" role=button'
    assert (
        action_content(typed, typed.target, 80) == 'type target="Zip code" role=textbox text="10203 \'zip\'"'
    )
    assert action_content(GuiAction(type="home"), None, 80) == "home"
    long = GuiAction(type="type", text="x" * 500)
    assert len(action_content(long, None, 20)) < 40


def test_scroll_direction_follows_the_finger() -> None:
    up = GuiAction(type="scroll", x=137, y=324.6, end_x=156.3, end_y=0.7)
    assert swipe_direction(up) == "up"
    assert swipe_direction(GuiAction(type="swipe", x=10, y=10, end_x=200, end_y=20)) == "right"
    assert swipe_direction(GuiAction(type="scroll")) is None
    assert action_content(up, None, 80) == "scroll direction=up"


def test_anchor_carries_point_box_and_evidence() -> None:
    w = window(
        [
            step(0, GuiAction(type="click", target=SEARCH)),
            step(1, GuiAction(type="click", x=5, y=6)),
            step(2, GuiAction(type="done")),
        ]
    )
    anchors = GuiActionExtractor()(w)
    assert [a.type for a in anchors] == ["gui_action"] * 3
    first, second, last = anchors
    assert first.bbox == SEARCH.bbox
    assert first.point == (587 + 93 / 2, 596.5 + 54 / 2)  # no point recorded: the target's centre
    assert first.evidence_frames == [0, 1]
    assert second.point == (5, 6) and second.bbox is None
    assert last.content == "done" and last.point is None and last.evidence_frames == [2]
    assert len({a.anchor_id for a in anchors}) == 3
    only_own = GuiActionExtractor(GuiActionConfig(evidence_next_frame=False))(w)
    assert only_own[0].evidence_frames == [0]


def test_target_from_the_screen_parse_when_the_step_names_none() -> None:
    parse = "\n".join(
        [
            'TEXT "Chrome" [91, 321, 15, 5]',
            'TEXT "Clock" [156, 321, 18, 5]',
            'ICON_PERSON "" [218, 283, 10, 20]',
        ]
    )
    w = window([step(0, GuiAction(type="click", x=163.9, y=299.0), accessibility=parse)])
    anchor = GuiActionExtractor()(w)[0]
    assert anchor.content == 'click target="Clock" role=TEXT'
    assert anchor.bbox == BBox(x=156, y=321, w=18, h=5)
    far = GuiActionExtractor(GuiActionConfig(max_target_distance_px=5))(w)[0]
    assert far.bbox is None and far.content == "click"


def test_nearest_element_prefers_containing_and_smallest() -> None:
    elements = parse_screen(
        '[{"text": "page", "bbox": [0, 0, 500, 500]},'
        ' {"text": "ok", "role": "button", "bbox": [10, 10, 20, 10]}]'
    )
    hit = nearest_element(elements, 15, 15, 0)
    assert hit is not None and hit.text == "ok"
    assert nearest_element(elements, 900, 900, 10) is None
    assert parse_screen("<html>not a parse</html>") == []
    assert parse_screen(
        '{"ui_positions": "[[321, 156, 5, 18]]", "ui_text": "[\\"Cleck\\"]", "ui_types": "[\\"TEXT\\"]"}'
    )[0].bbox == BBox(x=156, y=321, w=18, h=5)
