"""Key-frame, motion and stall experts on real clips."""

from __future__ import annotations

import numpy as np
import pytest

from agents.extractors.base import ExtractorError
from agents.extractors.video.keyframes import KeyFrameExtractor
from agents.extractors.video.keyframes_config import KeyFrameConfig
from agents.extractors.video.motion import MotionExtractor, StallExtractor
from agents.extractors.video.motion_config import MotionConfig, StallConfig
from agents.extractors.video.scene import SceneCutExtractor
from agents.extractors.video.scene_config import SceneCutConfig
from agents.extractors.video.window import VideoWindow
from tests.agents.extractors.video.conftest import decode


def with_cuts(window: VideoWindow) -> VideoWindow:
    expert = SceneCutExtractor(SceneCutConfig())
    window.record(expert.name, expert(window))
    return window


def test_experts_need_the_scene_cuts_first(bikes):  # type: ignore[no-untyped-def]
    window = decode(bikes)
    for expert in (
        KeyFrameExtractor(KeyFrameConfig()),
        MotionExtractor(MotionConfig()),
        StallExtractor(StallConfig()),
    ):
        with pytest.raises(ExtractorError) as info:
            expert(window)
        assert info.value.reason == "missing_prerequisite"


def test_one_representative_key_frame_per_shot(bikes):  # type: ignore[no-untyped-def]
    window = with_cuts(decode(bikes))
    shots = window.segments()
    assert shots == [(0, 29), (30, 75), (76, 136), (137, 186), (187, 241), (242, 249)]
    expert = KeyFrameExtractor(KeyFrameConfig(prefer_kept_frames=False))
    keys = expert(window)
    assert len(keys) == len(shots)
    margin = 5  # 0.2 s at 25 fps
    for anchor, (first, last) in zip(keys, shots, strict=True):
        if last - first > 2 * margin:
            assert first + margin <= anchor.frame_index <= last - margin
        else:  # the 8-frame last shot is too short for margins
            assert first <= anchor.frame_index <= last
        median = np.median(window.luma[first : last + 1], axis=0)
        dist = [np.abs(window.luma[p].astype(float) - median).mean() for p in range(first, last + 1)]
        # closer to the shot's typical look than the shot's own first and last frames
        assert dist[anchor.frame_index - first] <= min(dist[0], dist[-1])


def test_key_frames_prefer_frames_already_in_memory(bikes):  # type: ignore[no-untyped-def]
    window = with_cuts(decode(bikes))
    kept = window.retained_positions
    keys = KeyFrameExtractor(KeyFrameConfig())(window)
    for anchor, (first, last) in zip(keys, window.segments(), strict=True):
        inner = {p for p in kept if first + 5 <= p <= last - 5}
        if inner:
            assert anchor.frame_index in inner


def test_motion_per_shot(bikes, gnome_webm, bbb):  # type: ignore[no-untyped-def]
    window = with_cuts(decode(bikes))
    motion = MotionExtractor(MotionConfig())(window)
    spans = [(a.frame_index, a.end_frame_index) for a in motion]
    assert spans == window.segments()
    energy = [a.value for a in motion]
    assert energy[1] > 2 * energy[0]  # shot 30-75 pans fast; shot 0-29 is a slow top view
    assert motion[1].content == "medium" and motion[0].content == "low"
    screen = MotionExtractor(MotionConfig())(with_cuts(decode(gnome_webm)))
    assert sum(a.content == "static" for a in screen) >= 4
    assert MotionExtractor(MotionConfig())(with_cuts(decode(bbb)))[0].content == "low"


def test_stalls_in_a_screen_recording(gnome_webm):  # type: ignore[no-untyped-def]
    # Viewed: the Laptop display is dragged until frame 356; from 357 to 417 only the pointer moves
    # (a few hundred of 786k pixels change); at 418-423 "Mirror displays" gets ticked.
    window = with_cuts(decode(gnome_webm))
    stalls = StallExtractor(StallConfig())(window)
    spans = {(a.frame_index, a.end_frame_index) for a in stalls}
    assert (357, 417) in spans
    stall = next(a for a in stalls if a.frame_index == 357)
    assert stall.timestamp == pytest.approx(23.8, abs=0.07) and stall.end_timestamp == pytest.approx(
        27.8, abs=0.07
    )
    assert stall.value == pytest.approx(4.07, abs=0.1)
    assert all(a.value is not None and a.value >= 1.0 for a in stalls)
    cut_frames = {a.frame_index for a in window.anchors_of("scene_cut")}
    for a in stalls:  # a stall never spans a cut
        assert a.end_frame_index is not None
        assert not any(a.frame_index < c <= a.end_frame_index for c in cut_frames)
    longer = StallExtractor(StallConfig(min_duration_s=3.0))(window)
    assert [(a.frame_index, a.end_frame_index) for a in longer] == [(357, 417)]


def test_no_stall_in_moving_footage(bikes, bbb, umi_video):  # type: ignore[no-untyped-def]
    for clip in (bikes, bbb, umi_video):
        assert StallExtractor(StallConfig())(with_cuts(decode(clip))) == []
