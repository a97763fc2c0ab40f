"""Target OCR expert on real screenshots (Mind2Web's Search button, AITW's Clock icon label)."""

from __future__ import annotations

from agents.extractors.base import budget_overruns
from agents.extractors.gui.target_ocr import TargetOcrExtractor
from agents.extractors.gui.target_ocr_config import TargetOcrConfig
from core.records import BBox, GuiAction, GuiTarget, MediaRef
from tests.agents.extractors.gui.helpers import png_ref, step, window

SEARCH_BOX = BBox(x=587, y=596.59375, w=93, h=54)  # Mind2Web's gold target, from queries.jsonl


def test_reads_the_mind2web_search_button(mind2web_jpg: bytes) -> None:
    shot = MediaRef.inline(mind2web_jpg, "image/jpeg")
    w = window(
        [
            step(
                0, GuiAction(type="click", target=GuiTarget(role="button", bbox=SEARCH_BOX)), screenshot=shot
            ),
            step(1, GuiAction(type="done"), screenshot=shot),
        ]
    )
    anchors = TargetOcrExtractor()(w)
    assert len(anchors) == 1
    (anchor,) = anchors
    assert anchor.type == "target_text" and anchor.frame_index == 0
    assert anchor.content == "Search"
    assert anchor.value is not None and anchor.value > 0.8
    assert anchor.bbox is not None and anchor.bbox.x < SEARCH_BOX.x and anchor.bbox.w > SEARCH_BOX.w


def test_reads_around_the_point_when_there_is_no_box(aitw_pngs: list[bytes]) -> None:
    # AITW's tap on the Clock icon (touch y=0.498, x=0.607 of 600x270): the label under the icon
    w = window(
        [
            step(
                0,
                GuiAction(type="click", x=0.6069772839546204 * 270, y=0.49836206436157227 * 600),
                screenshot=png_ref(aitw_pngs[2]),
            )
        ]
    )
    anchors = TargetOcrExtractor()(w)
    assert len(anchors) == 1
    assert anchors[0].content.lower().startswith("cl")


def test_large_crops_and_scrolls_are_not_read(mind2web_jpg: bytes) -> None:
    shot = MediaRef.inline(mind2web_jpg, "image/jpeg")
    page = GuiTarget(bbox=BBox(x=0, y=0, w=1280, h=2000))
    w = window(
        [
            step(0, GuiAction(type="click", target=page), screenshot=shot),
            step(1, GuiAction(type="scroll", x=600, y=600, end_x=600, end_y=100), screenshot=shot),
            step(2, GuiAction(type="click", target=GuiTarget(bbox=SEARCH_BOX))),  # no screenshot
        ]
    )
    assert TargetOcrExtractor()(w) == []


def test_a_spent_budget_reads_every_step_and_is_counted(mind2web_jpg: bytes) -> None:
    """Issue 19.15: a budget spent at the first step used to skip the rest, so a busy machine produced fewer
    target_text anchors from the same input; now every step is read and the overrun is counted."""
    shot = MediaRef.inline(mind2web_jpg, "image/jpeg")
    click = GuiAction(type="click", target=GuiTarget(role="button", bbox=SEARCH_BOX))
    w = window([step(i, click, screenshot=shot) for i in range(3)])
    with budget_overruns() as overruns:
        anchors = TargetOcrExtractor(TargetOcrConfig(budget_s=1e-6))(w)
    assert [a.frame_index for a in anchors] == [0, 1, 2] and {a.content for a in anchors} == {"Search"}
    assert overruns == ["target_ocr"]
    with budget_overruns() as overruns:
        assert TargetOcrExtractor()(w) == anchors
    assert overruns == []
