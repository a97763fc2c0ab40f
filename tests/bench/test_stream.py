"""`tailor bench stream`: the live pipeline against the bare loop on the real broker, with real steps."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from kafka.admin import KafkaAdminClient

from bench.stream import latency_samples, percentile, run_stream_bench, side_settings
from bench.stream_config import LiveRigConfig, StreamBenchConfig
from bench.stream_rig import StepFeed
from core.records import GuiStep, RobotStep

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"


def list_topics(bootstrap: str) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return list(admin.list_topics())
    finally:
        admin.close()


def need_shared() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"the shared data folder {SHARED} is absent (the benchmark streams its real steps)")
    return SHARED


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


def test_latency_samples_are_sorted_and_capped_keeping_the_ends() -> None:
    assert latency_samples([3.04, 1.0, 2.26]) == [1.0, 2.3, 3.0]
    many = [float(v) for v in range(10_000, 0, -1)]
    capped = latency_samples(many, cap=2000)
    assert len(capped) == 2000 and capped == sorted(capped)
    assert capped[0] == 1.0 and capped[-1] == 10_000.0
    assert percentile(capped, 50) is not None and abs(percentile(capped, 50) - 5000) < 10  # shape kept
    assert latency_samples([]) == []


def test_feed_renames_every_key_per_round_and_keeps_records_valid(tmp_path: Path) -> None:
    shared = need_shared()
    settings = side_settings(LiveRigConfig(), "127.0.0.1:9", tmp_path, "feed")
    feed = StepFeed.load(shared, settings)
    n = len(feed.events)
    kinds = {type(ev.record) for ev in feed.events}
    assert kinds == {RobotStep, GuiStep}
    assert n > 600  # 25 Bridge episodes x 10 + 400 UMI steps + AITW + Mind2Web
    msgs = feed.messages(settings)
    rounds = [[next(msgs) for _ in range(n)] for _ in range(2)]
    for r, batch in enumerate(rounds):
        for (topic, key, value), ev in zip(batch, feed.events, strict=True):
            record_type = RobotStep if topic == settings.topic_raw_robot else GuiStep
            assert topic in (settings.topic_raw_robot, settings.topic_raw_gui)
            record = record_type.from_bytes(value)
            assert key.decode() == f"{ev.key}-r{r}"
            assert getattr(record, "episode_id" if record_type is RobotStep else "session_id") == key.decode()
    assert not {k for _t, k, _v in rounds[0]} & {k for _t, k, _v in rounds[1]}


def test_stream_bench_reports_both_sides(kafka_bootstrap: str, tmp_path: Path) -> None:
    shared = need_shared()
    cfg = StreamBenchConfig(
        seconds=10,
        latency_seconds=6,
        settle_s=3,
        shared_dir=shared,
        data_dir=tmp_path,
        kafka_bootstrap=kafka_bootstrap,
    )
    result = run_stream_bench(cfg)
    assert json.loads(json.dumps(result)) == result  # JSON-ready
    assert result["baseline_eps"] > 0 and result["pipeline_eps"] > 0
    assert result["ratio"] == round(result["pipeline_eps"] / result["baseline_eps"], 3) > 0
    assert result["latency_examples"] > 0
    samples = result["pipeline"]["latency_samples_ms"]
    assert len(samples) == min(result["latency_examples"], 2000) and samples == sorted(samples)
    assert 0 < result["latency_p50_ms"] <= result["latency_p95_ms"] <= result["latency_first_event_p95_ms"]
    assert result["baseline_latency_p50_ms"] <= result["baseline_latency_p95_ms"]
    assert result["rss_start_mb"] > 0 and result["rss_end_mb"] > 0 and result["rss_cold_mb"] > 0
    assert result["settle_s"] == 3 and result["baseline_rss_cold_mb"] > 0
    assert result["rss_peak_mb"] >= max(result["rss_start_mb"], result["rss_end_mb"])
    assert result["baseline_rss_start_mb"] > 0 and result["baseline_rss_end_mb"] > 0
    assert set(result["targets"]) == {"ratio_ge_0_5", "latency_p95_le_window_plus_2s", "rss_growth_lt_10pct"}
    for side in (result["pipeline"], result["baseline"]):
        assert side["latency_rate_eps"] == result["latency_rate_eps"]  # both paced alike
        assert side["events_sent"] >= result["events_per_round"]
        assert side["anchors"] > 0 and side["examples"] > 0
        assert side["dlq"] == 0  # real steps only: nothing is dead-lettered
    # the bench leaves no topic of its own behind on the cluster it was given
    assert not [
        t
        for t in list_topics(kafka_bootstrap)
        if t.startswith((result["pipeline"]["app_id"], result["baseline"]["app_id"]))
    ]
    # the pipeline really ran through the Parquet sink
    sink = ds.dataset(str(tmp_path / "pipeline" / "examples"), format="parquet", partitioning="hive")
    rows = sink.count_rows()
    assert rows > 0
