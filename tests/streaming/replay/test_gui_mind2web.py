"""The real Mind2Web step (Thumbtack, search for a wedding photographer) -> GuiSteps."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.limits_config import LimitsConfig
from core.records import GuiStep
from streaming.replay.base import ReplayError, ReplayEvent
from streaming.replay.gui_mind2web import Mind2WebSource, candidates_by_id, crop_top
from tests.streaming.replay.conftest import RecordingMedia

STEP = Path("gui/mind2web/thumbtack-wedding-photographer")
TASK = "View the profile of a Wedding Photographer near 10203 for a 4 hour wedding on april 13"


@pytest.fixture(scope="module")
def folder(data_dir: Path) -> Path:
    return data_dir / STEP


@pytest.fixture(scope="module")
def queries(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "queries.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def events(folder: Path) -> list[ReplayEvent]:
    return list(Mind2WebSource(folder, RecordingMedia(), LimitsConfig()).events(100.0, 1.0))


def _steps(events: list[ReplayEvent]) -> list[GuiStep]:
    assert all(isinstance(ev.record, GuiStep) for ev in events)
    return [ev.record for ev in events]  # type: ignore[misc]


def test_previous_actions_then_the_gold_click(events: list[ReplayEvent]) -> None:
    steps = _steps(events)
    assert [s.step_index for s in steps] == [0, 1, 2]
    assert {ev.key for ev in events} == {"725d96cd-9283-4ec7-b902-d003503f2d6b"}
    typed = [
        (s.action.type, s.action.text, s.action.target.text if s.action.target else None) for s in steps[:2]
    ]
    assert typed == [("type", "wedding photographer", "Search on Thumbtack"), ("type", "10203", "Zip code")]
    assert all(s.screenshot is None and s.action.target and s.action.target.bbox is None for s in steps[:2])
    assert all(s.action.target and s.action.target.role == "textbox" for s in steps[:2])
    assert all(s.instruction == TASK and s.app == "thumbtack" for s in steps)
    assert [s.is_last for s in steps] == [False, False, True]
    assert [s.timestamp for s in steps] == [100.0, 101.0, 102.0]


def test_gold_click_box_in_screenshot_pixels(events: list[ReplayEvent], folder: Path) -> None:
    gold = _steps(events)[2]
    action = gold.action
    assert action.type == "click" and action.target is not None and action.target.bbox is not None
    box = action.target.bbox
    assert (box.x, box.y, box.w, box.h) == (587.0, 596.59375, 93.0, 54.0)  # images/0.jpg starts at page top
    assert (
        action.target.text == "Search"
        and action.target.role == "button"
        and action.target.element_id == "8635"
    )
    assert (action.x, action.y) == pytest.approx((587 + 46.5, 596.59375 + 27))
    shot = gold.screenshot
    assert shot is not None and shot.media_type == "image/jpeg" and (shot.width, shot.height) == (1280, 2529)
    assert shot.data == (folder / "images" / "0.jpg").read_bytes()
    # the box holds the blue Search button: strongly blue inside, mostly white around it
    img = np.asarray(Image.open(io.BytesIO(shot.data)).convert("RGB"), dtype=np.int16)
    inside = img[int(box.y) + 5 : int(box.y + box.h) - 5, int(box.x) + 5 : int(box.x + box.w) - 5]
    assert (inside[..., 2] - inside[..., 0]).mean() > 100
    assert gold.html is not None and 'backend_node_id="8635"' in gold.html


def test_crop_offsets_match_the_overlapping_screenshots(folder: Path, queries: list[dict]) -> None:
    """SeeAct's crops overlap: row r of image i shows page row crop_top(i) + r, so overlaps agree."""
    images = [
        np.asarray(Image.open(folder / "images" / f"{i}.jpg").convert("L"), dtype=np.float64)
        for i in range(3)
    ]
    tops = [crop_top(q, candidates_by_id(q)) for q in queries]
    assert tops == [0.0, 239.0, 4188.0]
    for a, b in ((0, 1), (1, 2)):
        shift = int(tops[b] - tops[a])
        rows = min(images[a].shape[0] - shift, images[b].shape[0], 1500)
        aligned = np.abs(images[a][shift : shift + rows] - images[b][:rows]).mean()
        off_by_one = np.abs(images[a][shift + 1 : shift + 1 + rows] - images[b][:rows]).mean()
        assert aligned < 0.5 < off_by_one


def test_target_outside_the_chosen_crop_drops_the_box(
    folder: Path, queries: list[dict], tmp_path: Path
) -> None:
    copy = tmp_path / "step"
    shutil.copytree(folder, copy)
    moved = []
    for q in queries:
        q = json.loads(json.dumps(q))
        attrs = json.loads(q["pos_candidates"][0]["attributes"])
        attrs["bounding_box_rect"] = "587,2600,93,54"  # below images/0.jpg (2529 rows)
        q["pos_candidates"][0]["attributes"] = json.dumps(attrs)
        moved.append(json.dumps(q))
    (copy / "queries.jsonl").write_text("\n".join(moved) + "\n")
    gold = list(Mind2WebSource(copy, RecordingMedia(), LimitsConfig()).events(0.0, 1.0))[-1].record
    assert isinstance(gold, GuiStep) and gold.screenshot is not None
    assert gold.action.target is not None and gold.action.target.bbox is None and gold.action.x is None


def test_broken_queries_file(folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / "step"
    shutil.copytree(folder, copy)
    (copy / "queries.jsonl").write_text('{"annotation_id": "a", "confirmed_task": ')
    with pytest.raises(ReplayError) as err:
        next(Mind2WebSource(copy, RecordingMedia(), LimitsConfig()).events(0.0, 1.0))
    assert err.value.reason == "bad_json"
