"""Scene cuts on real clips, at the times verified by eye (frames saved and viewed on both sides)."""

from __future__ import annotations

import numpy as np
import pytest

from agents.extractors.video.scene import SceneCutExtractor
from agents.extractors.video.scene_config import SceneCutConfig
from agents.extractors.video.signals import histogram_distance, mean_abs_diff, robust_threshold
from agents.extractors.video.window import VideoWindow
from core.records import Anchor
from tests.agents.extractors.video.conftest import decode


def cuts(window: VideoWindow, **config: object) -> list[Anchor]:
    return SceneCutExtractor(SceneCutConfig.model_validate(config))(window)


def test_bikes_shot_changes(bikes):  # type: ignore[no-untyped-def]
    # Viewed: 29|30 road from above -> man in suit; 75|76 taxi sign -> cyclist behind a van;
    # 136|137 cyclist -> street behind railings; 186|187 railings -> walker and parked bike;
    # 241|242 parked bike -> wheel close-up.
    found = cuts(decode(bikes))
    assert [a.frame_index for a in found] == [30, 76, 137, 187, 242]
    assert [a.timestamp for a in found] == pytest.approx([1.2, 3.04, 5.48, 7.48, 9.68], abs=0.04)
    assert all(a.type == "scene_cut" and a.value is not None and a.value > 0.2 for a in found)
    assert len({a.anchor_id for a in found}) == 5


def test_one_shot_clips_have_no_cut(bbb, carphone, umi_video):  # type: ignore[no-untyped-def]
    # Big Buck Bunny's 5.3 s is one continuous shot (the bunny climbs out of his burrow, with four
    # repeated frames); carphone is one shot in a moving car; UMI is one hand-held episode.
    for clip in (bbb, carphone, umi_video):
        assert cuts(decode(clip)) == []


def test_camera_motion_is_not_a_cut(bikes):  # type: ignore[no-untyped-def]
    window = decode(bikes)
    diff = mean_abs_diff(window)
    # frames 65-75 and 96-106 pan fast: big pixel change, still one shot
    assert diff[65:76].min() > 12 and diff[96:107].max() > 15
    found = {a.frame_index for a in cuts(window)}
    assert not found & (set(range(60, 76)) | set(range(90, 110)))


def test_screen_recording_changes(gnome_webm):  # type: ignore[no-untyped-def]
    # Viewed: 15 Activities overview opens; 29 search results appear; 49 overview closes to the desktop;
    # 60 the Displays window opens; 493 the mirror pop-up closes; 535 the Displays window closes.
    found = cuts(decode(gnome_webm))
    assert [a.frame_index for a in found] == [15, 29, 49, 60, 493, 535]
    assert found[3].timestamp == pytest.approx(4.0, abs=0.07)


def test_threshold_adapts_to_the_neighbourhood():  # type: ignore[no-untyped-def]
    calm = np.r_[0.0, np.full(60, 1.0)]
    busy = np.r_[0.0, np.full(30, 1.0), np.tile([8.0, 10.0, 12.0, 14.0], 8)]
    assert robust_threshold(calm, 10, 6.0, 0.5)[5] == pytest.approx(1.0)
    thr = robust_threshold(busy, 10, 6.0, 0.5)
    assert thr[50] > 20.0 and thr[5] == pytest.approx(1.0)  # 11 + 6 * 1.4826 * 2
    assert robust_threshold(np.zeros(1), 10, 6.0, 0.5).tolist() == [0.5]


def test_floors_reject_small_changes(bikes):  # type: ignore[no-untyped-def]
    window = decode(bikes)
    hist = histogram_distance(window)
    assert hist[30] > 0.5 and hist[:29].max() < 0.1
    assert cuts(window, min_histogram_distance=0.8, min_pixel_diff=0.0) == []
    # two cuts closer than min_scene_s keep the stronger only
    assert [a.frame_index for a in cuts(window, min_scene_s=2.1)] == [30, 137, 242]
