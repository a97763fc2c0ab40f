"""The real Android-in-the-Wild episode (open the Clock app) -> GuiSteps."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from core.limits_config import LimitsConfig
from core.records import GuiStep
from streaming.replay.base import ReplayError, ReplayEvent
from streaming.replay.gui_aitw import AitwEpisodeSource
from tests.streaming.replay.conftest import RecordingMedia

EPISODE = Path("gui/aitw/GOOGLE_APPS-523638528775825151")
T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def folder(data_dir: Path) -> Path:
    return data_dir / EPISODE


@pytest.fixture(scope="module")
def raw(folder: Path) -> list[dict]:
    return json.loads((folder / f"{folder.name}.json").read_text())


@pytest.fixture(scope="module")
def events(folder: Path) -> list[ReplayEvent]:
    return list(AitwEpisodeSource(folder, RecordingMedia(), LimitsConfig()).events(T0, 2.0))


def _steps(events: list[ReplayEvent]) -> list[GuiStep]:
    assert all(isinstance(ev.record, GuiStep) for ev in events)
    return [ev.record for ev in events]  # type: ignore[misc]


def test_four_steps_home_scroll_tap_done(events: list[ReplayEvent]) -> None:
    steps = _steps(events)
    assert [s.action.type for s in steps] == ["home", "scroll", "click", "done"]
    assert [s.step_index for s in steps] == [0, 1, 2, 3]
    assert [s.is_last for s in steps] == [False, False, False, True]
    assert {ev.key for ev in events} == {"GOOGLE_APPS-523638528775825151"}
    assert all(s.instruction == 'open app "Clock" (install if not already installed)' for s in steps)
    assert [ev.at_s for ev in events] == [0.0, 1.0, 2.0, 3.0]
    assert [s.timestamp for s in steps] == pytest.approx([T0, T0 + 0.5, T0 + 1.0, T0 + 1.5])


def test_screenshots_are_the_real_pngs(events: list[ReplayEvent], folder: Path) -> None:
    for i, step in enumerate(_steps(events)):
        shot = step.screenshot
        assert shot is not None and shot.media_type == "image/png" and (shot.width, shot.height) == (270, 600)
        assert shot.data == (folder / f"{folder.name}_{i}.png").read_bytes()
        assert Image.open(io.BytesIO(shot.data)).size == (270, 600)


def test_tap_at_the_recorded_point_on_the_clock_label(events: list[ReplayEvent], raw: list[dict]) -> None:
    tap = _steps(events)[2].action
    y, x = json.loads(raw[2]["result_touch_yx"])
    assert (tap.x, tap.y) == pytest.approx((x * 270, y * 600))
    assert tap.target is not None
    assert tap.target.text == "Cleck"  # the screen parse's OCR of the "Clock" label under the icon
    assert tap.target.role == "TEXT"
    assert tap.target.bbox is not None
    b = tap.target.bbox
    assert (b.x, b.y, b.w, b.h) == (156, 321, 18, 5)  # ui_positions [y, x, h, w] = [321, 156, 5, 18]
    assert tap.x is not None and tap.y is not None
    assert b.x <= tap.x <= b.x + b.w and tap.y < b.y  # the icon sits just above its label


def test_scroll_runs_from_touch_to_lift(events: list[ReplayEvent], raw: list[dict]) -> None:
    scroll = _steps(events)[1].action
    ty, tx = json.loads(raw[1]["result_touch_yx"])
    ly, lx = json.loads(raw[1]["result_lift_yx"])
    assert (scroll.x, scroll.y, scroll.end_x, scroll.end_y) == pytest.approx(
        (tx * 270, ty * 600, lx * 270, ly * 600)
    )
    assert scroll.end_y is not None and scroll.y is not None and scroll.end_y < scroll.y  # swipe up
    assert scroll.target is None


def test_screen_parse_is_passed_as_accessibility_text(events: list[ReplayEvent], raw: list[dict]) -> None:
    lines = (_steps(events)[3].accessibility or "").splitlines()
    assert len(lines) == len(json.loads(raw[3]["ui_text"]))
    assert 'TEXT "Stopwatch" [197, 43, 37, 7]' in lines


def _copy(folder: Path, dest: Path, steps: list[dict]) -> Path:
    dest.mkdir()
    for png in folder.glob("*.png"):
        shutil.copy(png, dest / png.name)
    (dest / f"{folder.name}.json").write_text(json.dumps(steps))
    return dest


def test_nan_touch_point_is_refused(folder: Path, raw: list[dict], tmp_path: Path) -> None:
    steps = [dict(s) for s in raw]
    steps[2]["result_touch_yx"] = "[NaN, 0.5]"
    bad = _copy(folder, tmp_path / folder.name, steps)
    with pytest.raises(ReplayError) as err:
        next(AitwEpisodeSource(bad, RecordingMedia(), LimitsConfig()).events(0.0, 1.0))
    assert err.value.reason == "nonfinite_vector"


def test_out_of_order_steps_are_flagged(folder: Path, raw: list[dict], tmp_path: Path) -> None:
    bad = _copy(folder, tmp_path / folder.name, [raw[0], raw[2], raw[1], raw[3]])
    got = []
    with pytest.raises(ReplayError) as err:
        for ev in AitwEpisodeSource(bad, RecordingMedia(), LimitsConfig()).events(0.0, 1.0):
            got.append(ev)
    assert err.value.reason == "out_of_order_steps" and got == []


def test_screenshot_pixel_cap(folder: Path) -> None:
    src = AitwEpisodeSource(folder, RecordingMedia(), LimitsConfig(max_image_pixels=100 * 100))
    with pytest.raises(ReplayError) as err:
        next(src.events(0.0, 1.0))
    assert err.value.reason == "image_too_large"
