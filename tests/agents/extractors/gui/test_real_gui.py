"""The GUI experts on the real recordings in ../shared, read by the project's replay readers."""

from __future__ import annotations

import json

import pytest

from agents.extractors.gui.actions import GuiActionExtractor
from agents.extractors.gui.pipeline import GuiExpertPipeline
from agents.extractors.gui.spans import partition_problems
from agents.extractors.gui.window import GuiWindow
from core.records import Anchor, BBox
from tests.agents.extractors.gui.helpers import AITW_DIR, MIND2WEB_DIR


def of_type(anchors: list[Anchor], kind: str) -> list[Anchor]:
    return [a for a in anchors if a.type == kind]


@pytest.fixture(scope="module")
def aitw_raw() -> list[dict[str, object]]:
    data = json.loads((AITW_DIR / f"{AITW_DIR.name}.json").read_text())
    assert isinstance(data, list)
    return data


def test_aitw_actions_in_order_with_the_tap_point_and_parsed_target(
    aitw_window: GuiWindow, aitw_raw: list[dict[str, object]]
) -> None:
    anchors = GuiActionExtractor()(aitw_window)
    assert [a.content.split()[0] for a in anchors] == ["home", "scroll", "click", "done"]
    assert anchors[1].content == "scroll direction=up"  # touch y 0.54 -> lift y 0.001: the finger went up
    tap = anchors[2]
    ty, tx = json.loads(str(aitw_raw[2]["result_touch_yx"]))
    assert tap.point == pytest.approx((tx * 270, ty * 600))
    # the Clock icon itself is not in the screen parse; its label just below it is ("Cleck", sic)
    texts = json.loads(str(aitw_raw[2]["ui_text"]))
    y, x, h, w = json.loads(str(aitw_raw[2]["ui_positions"]))[texts.index("Cleck")]
    assert tap.bbox == BBox(x=x, y=y, w=w, h=h)
    assert tap.content == 'click target="Cleck" role=TEXT'
    assert tap.evidence_frames == [2, 3]
    assert anchors[0].point is None and anchors[3].content == "done"


def test_aitw_target_resolved_from_the_screen_parse_alone(aitw_window: GuiWindow) -> None:
    """Drop the reader's target: the expert finds the same element in the step's accessibility text."""
    steps = list(aitw_window.steps)
    tap = steps[2]
    steps[2] = tap.model_copy(update={"action": tap.action.model_copy(update={"target": None})})
    anchors = GuiActionExtractor()(GuiWindow.of(steps))
    assert tap.action.target is not None
    assert anchors[2].bbox == tap.action.target.bbox
    assert anchors[2].content == 'click target="Cleck" role=TEXT'


def test_aitw_full_pipeline(aitw_window: GuiWindow) -> None:
    anchors = GuiExpertPipeline.default()(aitw_window)
    changes = of_type(anchors, "screen_change")
    assert [(a.frame_index, a.end_frame_index) for a in changes] == [(0, 1), (1, 2), (2, 3)]
    assert all(a.value is not None and 0.05 < a.value <= 1.0 for a in changes)
    (ocr,) = of_type(anchors, "target_text")
    assert ocr.frame_index == 2 and ocr.content.lower().startswith("cl")  # the label under the icon
    assert of_type(anchors, "app_transition") == [] and of_type(anchors, "url_transition") == []
    (seg,) = of_type(anchors, "segmentation")
    assert seg.content == "none"  # one goal: open the Clock app
    subtasks = of_type(anchors, "subtask")
    assert partition_problems([(a.frame_index, a.end_frame_index or 0) for a in subtasks], 4) == []
    assert len({a.anchor_id for a in anchors}) == len(anchors)


def test_mind2web_gold_click_and_its_box(mind2web_window: GuiWindow) -> None:
    query = json.loads((MIND2WEB_DIR / "queries.jsonl").read_text().splitlines()[0])
    assert query["operation"]["op"] == "CLICK"
    attributes = json.loads(query["pos_candidates"][0]["attributes"])
    x, y, w, h = (float(v) for v in attributes["bounding_box_rect"].split(","))
    anchors = GuiActionExtractor()(mind2web_window)
    gold = anchors[-1]
    assert gold.content == 'click target="Search" role=button'
    assert gold.content.split()[0] == query["operation"]["op"].lower()
    assert gold.bbox == BBox(x=x, y=y, w=w, h=h)
    assert gold.point == pytest.approx((x + w / 2, y + h / 2))
    previous = [a.content for a in anchors[:-1]]
    assert previous == [
        'type target="Search on Thumbtack" role=textbox text="wedding photographer"',
        'type target="Zip code" role=textbox text="10203"',
    ]


def test_mind2web_full_pipeline(mind2web_window: GuiWindow) -> None:
    anchors = GuiExpertPipeline.default()(mind2web_window)
    (ocr,) = of_type(anchors, "target_text")
    assert ocr.frame_index == 2 and ocr.content == "Search"  # read off the real screenshot
    assert of_type(anchors, "screen_change") == []  # only the gold step has a screenshot
    (seg,) = of_type(anchors, "segmentation")
    assert seg.content == "none"
    (subtask,) = of_type(anchors, "subtask")
    assert (subtask.frame_index, subtask.end_frame_index) == (0, 2)
    task = json.loads((MIND2WEB_DIR / "queries.jsonl").read_text().splitlines()[0])["confirmed_task"]
    assert mind2web_window.instruction == task and subtask.content == task
