"""OCR on the key frames of a real GNOME screen recording (display-dual-monitors.webm, 1024x768 VP8)."""

from __future__ import annotations

import numpy as np
import pytest

from agents.extractors.base import ExtractorError, budget_overruns
from agents.extractors.video.keyframes import KeyFrameExtractor
from agents.extractors.video.keyframes_config import KeyFrameConfig
from agents.extractors.video.ocr import OcrExtractor, fit_side
from agents.extractors.video.ocr_config import OcrConfig
from agents.extractors.video.scene import SceneCutExtractor
from agents.extractors.video.scene_config import SceneCutConfig
from agents.extractors.video.window import VideoWindow
from agents.tasks.anchor_view import event_phrase
from tests.agents.extractors.video.conftest import decode

# Viewed frame 204: the "Displays" settings dialog spans x 173-850, y 105-606 and reads "Displays",
# "All Settings", "Laptop", "Acer Technologies 17\"", "Mirror displays", "Note: may limit resolution
# options", "Resolution:", "Rotation:", "Normal", "Detect Displays", "Apply". Frame 510 (after the
# mirror checkbox) also shows "Mirror Screens" at the top left and "Mirror Displays" in the dialog.
DIALOG = (173, 105, 850, 606)


@pytest.fixture(scope="module")
def screen(gnome_webm) -> VideoWindow:  # type: ignore[no-untyped-def]
    window = decode(gnome_webm)
    for expert in (SceneCutExtractor(SceneCutConfig()), KeyFrameExtractor(KeyFrameConfig())):
        window.record(expert.name, expert(window))
    return window


@pytest.fixture(scope="module")
def read(screen):  # type: ignore[no-untyped-def]
    """The three longest shots' key frames (204, 510, 550) read once, with a budget spent at once."""
    with budget_overruns() as overruns:
        anchors = OcrExtractor(OcrConfig(max_frames=3, budget_s=0.001))(screen)
    return anchors, overruns


def seen_on(anchor):  # type: ignore[no-untyped-def]
    """The key frames read (204, 510, 550) on which the anchor's text was seen."""
    return {f for f in anchor.evidence_frames if f in (204, 510, 550)}


def test_reads_the_settings_dialog(screen, read):  # type: ignore[no-untyped-def]
    anchors, _ = read
    assert OcrExtractor.frame_order(screen)[:2] == [screen.position_of(204), screen.position_of(510)]
    texts = {a.content for a in anchors if 204 in seen_on(a)}
    for wanted in ("Displays", "Detect Displays", "Apply", "Mirror displays", "All Settings"):
        assert wanted in texts, (wanted, sorted(texts))
    assert any(t.startswith("Resolution") for t in texts)
    assert any(a.content == "Mirror Screens" for a in anchors if 510 in seen_on(a))
    for a in anchors:
        assert a.type in ("ocr_text", "text_appears") and a.bbox is not None and a.value is not None
        assert a.value >= 0.6
        assert 0 <= a.bbox.x < 1024 and 0 <= a.bbox.y < 768 and a.bbox.w > 0 and a.bbox.h > 0
    detect = next(a for a in anchors if 204 in seen_on(a) and a.content == "Detect Displays")
    assert detect.bbox is not None
    assert DIALOG[0] < detect.bbox.x < detect.bbox.x + detect.bbox.w < DIALOG[2]
    assert DIALOG[1] < detect.bbox.y < detect.bbox.y + detect.bbox.h < DIALOG[3]
    assert 550 < detect.bbox.y < 580
    assert len({a.anchor_id for a in anchors}) == len(anchors)


def test_only_text_seen_absent_before_appears(screen, read):  # type: ignore[no-untyped-def]
    """Issue 19.5: the top bar ("Activities") is on screen from frame 0, so it is only visible; "Mirror
    Screens" (shown at the top left once mirroring is on, frame 493 on) appears, and OCR of its box one
    frame earlier does not read it."""
    anchors, _ = read
    activities = [a for a in anchors if a.content == "Activities"]
    assert activities and all(a.type == "ocr_text" for a in activities)
    mirror = next(a for a in anchors if a.content == "Mirror Screens")
    assert mirror.type == "text_appears" and 470 < mirror.frame_index <= 510, mirror
    before = mirror.evidence_frames[0]
    assert before == mirror.frame_index - 1
    assert mirror.bbox is not None
    expert = OcrExtractor(OcrConfig())
    rgb = screen.rgb([screen.position_of(before), screen.position_of(510)])
    assert not expert.reads(rgb[screen.position_of(before)], mirror.bbox, mirror.content)
    assert expert.reads(rgb[screen.position_of(510)], mirror.bbox, mirror.content)
    for a in anchors:  # an appearance is never claimed after the frame that showed it
        assert seen_on(a) and a.frame_index <= min(seen_on(a))
    assert event_phrase(activities[0]).endswith("is visible") and event_phrase(mirror).endswith("appears")


def test_a_spent_budget_is_counted_and_cuts_nothing(read):  # type: ignore[no-untyped-def]
    """Issue 19.15: going past the budget no longer skips frames (results must not depend on load)."""
    anchors, overruns = read
    assert set().union(*(seen_on(a) for a in anchors)) == {204, 510, 550}
    assert overruns == ["ocr_text"]


def test_downscaled_boxes_map_back(screen):  # type: ignore[no-untyped-def]
    anchors = OcrExtractor(OcrConfig(max_frames=1, max_side=800))(screen)
    apply = next(a for a in anchors if a.content == "Apply")
    assert apply.bbox is not None
    assert apply.bbox.x == pytest.approx(754, abs=25) and apply.bbox.y == pytest.approx(562, abs=12)


def test_ocr_needs_key_frames(gnome_webm):  # type: ignore[no-untyped-def]
    with pytest.raises(ExtractorError) as info:
        OcrExtractor(OcrConfig())(decode(gnome_webm, timeout_s=5))
    assert info.value.reason == "missing_prerequisite"


def test_fit_side():  # type: ignore[no-untyped-def]
    image = np.zeros((768, 1024, 3), np.uint8)
    small, scale = fit_side(image, 512)
    assert small.shape == (384, 512, 3) and scale == 0.5
    same, one = fit_side(image, 2000)
    assert same is image and one == 1.0
