"""OCR on the key frames of a real GNOME screen recording (display-dual-monitors.webm, 1024x768 VP8)."""

from __future__ import annotations

import numpy as np
import pytest

from agents.extractors.base import ExtractorError
from agents.extractors.video.keyframes import KeyFrameExtractor
from agents.extractors.video.keyframes_config import KeyFrameConfig
from agents.extractors.video.ocr import OcrExtractor, fit_side
from agents.extractors.video.ocr_config import OcrConfig
from agents.extractors.video.scene import SceneCutExtractor
from agents.extractors.video.scene_config import SceneCutConfig
from agents.extractors.video.window import VideoWindow
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


def test_reads_the_settings_dialog(screen):  # type: ignore[no-untyped-def]
    expert = OcrExtractor(OcrConfig(max_frames=2))
    assert expert.frame_order(screen)[:2] == [screen.position_of(204), screen.position_of(510)]
    anchors = expert(screen)
    assert {a.frame_index for a in anchors} == {204, 510}
    texts = {a.content for a in anchors if a.frame_index == 204}
    for wanted in ("Displays", "Detect Displays", "Apply", "Mirror displays", "All Settings"):
        assert wanted in texts, (wanted, sorted(texts))
    assert any(t.startswith("Resolution") for t in texts)
    assert any(a.content == "Mirror Screens" for a in anchors if a.frame_index == 510)
    for a in anchors:
        assert a.type == "ocr_text" and a.bbox is not None and a.value is not None and a.value >= 0.6
        assert 0 <= a.bbox.x < 1024 and 0 <= a.bbox.y < 768 and a.bbox.w > 0 and a.bbox.h > 0
    detect = next(a for a in anchors if a.frame_index == 204 and a.content == "Detect Displays")
    assert detect.bbox is not None
    assert DIALOG[0] < detect.bbox.x < detect.bbox.x + detect.bbox.w < DIALOG[2]
    assert DIALOG[1] < detect.bbox.y < detect.bbox.y + detect.bbox.h < DIALOG[3]
    assert 550 < detect.bbox.y < 580
    assert len({a.anchor_id for a in anchors}) == len(anchors)


def test_downscaled_boxes_map_back_and_budget_stops(screen):  # type: ignore[no-untyped-def]
    # a budget spent after the first frame: only the longest shot's key frame is read
    anchors = OcrExtractor(OcrConfig(max_frames=3, max_side=800, budget_s=0.001))(screen)
    assert {a.frame_index for a in anchors} == {204}
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
