"""`tailor bench soak`: steady load with hostile messages into a live worker; each is dead-lettered once."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from agents.extractors.video.decode import DecodeConfig, VideoDecodeError, VideoDecoder
from bench.soak import hostile_message, run_soak
from bench.soak_config import SoakConfig
from bench.soak_hostile import h264_growing, issue20_mix
from bench.stream import side_settings
from bench.stream_config import LiveRigConfig
from bench.stream_rig import rss_level, rss_slope
from core.records import GuiStep, RecordError, RobotStep, VideoSegment
from streaming.app import blob_store
from streaming.ingest_checks import checks_for

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"


def need_shared() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"the shared data folder {SHARED} is absent (the soak streams its real steps)")
    return SHARED


def test_each_hostile_kind_fails_ingest_with_its_reason(tmp_path: Path) -> None:
    settings = side_settings(LiveRigConfig(), "127.0.0.1:9", tmp_path, "unit")
    blobs = blob_store(settings)
    seen: Counter[str] = Counter()
    for n in range(12):
        topic, key, value, reason = hostile_message(settings, n)
        record_type = RobotStep if topic == settings.topic_raw_robot else GuiStep
        with pytest.raises(RecordError) as err:
            record = record_type.from_bytes(value, max_bytes=settings.max_message_bytes)
            for check in checks_for(record_type, settings, blobs):
                check.check(record)
        assert err.value.reason == reason
        assert key == f"hostile-{n}".encode()
        seen[reason] += 1
    assert len(seen) == 6 and set(seen.values()) == {2}  # the kinds take turns


def test_issue20_mix_meets_ingest_as_the_soak_expects(tmp_path: Path) -> None:
    """The mix's refused records fail where the soak says (ingest, or the window decoder for the in-band
    SPS growth, which the one-frame ingest probe cannot see); its heavy valid records pass ingest."""
    settings = side_settings(LiveRigConfig(), "127.0.0.1:9", tmp_path, "unit")
    blobs = blob_store(settings)
    mix = issue20_mix(settings, 0, text_chars=1_900_000, png_steps=2, text_steps=2)
    outcome = {}
    for m in mix:
        record_type = VideoSegment if m.topic == settings.topic_raw_video else GuiStep
        try:
            record = record_type.from_bytes(m.value, max_bytes=settings.max_message_bytes)
            for check in checks_for(record_type, settings, blobs):
                check.check(record)
            outcome[m.kind] = "passes"
        except RecordError as err:
            outcome[m.kind] = err.reason
    assert outcome == {
        "ffconcat": "unsupported_container",
        "spsgrowth": "passes",
        "flatpng": "passes",
        "bigtext": "passes",
    }
    with pytest.raises(VideoDecodeError) as info:
        VideoDecoder(DecodeConfig()).decode(h264_growing(), media_type="video/h264")
    assert info.value.reason == "resolution_too_large" and "16000x16000" in info.value.detail


def test_rss_slope_is_the_least_squares_trend_per_minute() -> None:
    assert rss_slope([(0.0, 100.0), (30.0, 101.0), (60.0, 102.0), (90.0, 103.0)]) == 2.0
    assert rss_slope([(0.0, 100.0), (30.0, 120.0), (60.0, 100.0)]) == 0.0
    assert rss_slope([(0.0, 100.0), (60.0, 50.0)]) is None  # too few samples to call it a trend


def test_rss_level_is_the_median_of_the_samples_in_its_span() -> None:
    samples = [(0.0, 240.0), (5.0, 280.0), (10.0, 250.0), (15.0, 300.0), (70.0, 900.0)]
    assert rss_level(samples, 0.0, 60.0) == 265.0  # one high sample does not move the level much
    assert rss_level(samples, 0.0, 12.0) == 250.0
    assert rss_level(samples, 61.0, 80.0) == 900.0
    assert rss_level(samples, 20.0, 60.0) is None


def test_soak_dead_letters_every_hostile_message_once(kafka_bootstrap: str, tmp_path: Path) -> None:
    shared = need_shared()
    # 24 s at 40/s would be 960 messages after the 657-step warm-up round; the cap stops it at 800
    cfg = SoakConfig(
        minutes=0.4,
        rate_eps=40,
        hostile_fraction=0.05,
        rss_sample_s=2,
        max_events=657 + 800,
        settle_s=0,
        shared_dir=shared,
        data_dir=tmp_path,
        kafka_bootstrap=kafka_bootstrap,
        # 6 flat 4096x8192 PNGs in one GUI window: ~600 MiB decoded; with the window's 128 MiB cache its
        # decoder peaked at 463 MiB, with the cache unbounded (4096) at 997 MiB
        rss_limit_mb=1024,
        decoder_rss_limit_mb=768,
    )
    result = run_soak(cfg)
    assert json.loads(json.dumps(result)) == result
    assert result["drained"]
    assert result["capped"] and result["events_in"] == cfg.max_events and result["steady_s"] < 23
    # 1 in 20 of the 800 steady-phase messages, and issue 20's mix: an ffconcat "video", an H.264 growing to
    # 16000x16000 in band, a forged model update (the flat-PNG and big-text GUI sessions are valid)
    assert result["hostile_sent"] == 40 + 3
    assert result["send_failures"] == 0
    assert result["dlq"] == result["hostile_sent"]
    assert result["dlq_by_reason"] == result["hostile_by_reason"]
    assert result["hostile_misfiled"] == []  # each one letter, with its reason, at its source offset
    assert result["duplicate_anchor_spans"] == 0  # no window extracted twice
    assert 0 < result["rss_hwm_mb"] < result["rss_limit_mb"]  # the worker's peak RSS, not a sample
    assert 0 < result["decoder_rss_hwm_mb"] < result["decoder_rss_limit_mb"]  # and its decoders'
    assert result["events_in"] == result["events_processed"]  # every event through extraction or the DLQ
    assert result["events_in"] > result["warmup_events"] + result["hostile_sent"]
    assert result["events_out"] == result["examples"] + result["anchors"] + result["dlq"]
    assert result["examples"] > 0 and result["anchors"] > 0
    assert result["latency_examples"] > 0 and 0 < result["latency_p50_ms"] <= result["latency_p95_ms"]
    assert len(result["latency_samples_ms"]) == min(result["latency_examples"], 2000)
    assert result["rss_start_mb"] > 0 and result["rss_end_mb"] > 0 and result["rss_cold_mb"] > 0
    assert result["rss_start_point_mb"] > 0 and result["rss_end_point_mb"] > 0
    ends = (result["rss_start_mb"], result["rss_end_mb"], result["rss_end_point_mb"])
    assert result["rss_peak_mb"] >= max(ends)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert not [t for t in admin.list_topics() if t.startswith(result["app_id"])]  # topics deleted after
    finally:
        admin.close()
    assert isinstance(result["rss_slope_mb_per_min"], float)
    series = result["rss_series"]
    assert len(series) >= 5 and all(mb >= 0 for _t, mb in series)
    assert [t for t, _mb in series] == sorted(t for t, _mb in series)
