"""Every metric the Grafana dashboard queries is exported by a real `tailor up` that has processed real data."""

from __future__ import annotations

import json
import time
from pathlib import Path

from kafka import KafkaProducer

from streaming.intent_publish import IntentRequest, publish_intent
from streaming.kafka_clients import kafka_python_kwargs
from streaming.replay.runner import replay
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from tests.conftest import WorkerProcess
from tests.deploy.deploy_files import DEPLOY, dashboard_queries, promql_metric_names, scraped_names

DASHBOARD = DEPLOY / "grafana/dashboards/tailor.json"
# counters that only move when something goes wrong: the scrape must declare them, samples are not expected
# from a healthy run on the rules backend (whose candidates pass the validators)
ON_FAILURE_ONLY = {"tailor_synthesis_errors_total", "tailor_validator_failures_total"}


def dashboard_metrics() -> dict[str, set[str]]:
    """metric name -> titles of the panels that query it."""
    out: dict[str, set[str]] = {}
    for title, expr in dashboard_queries(json.loads(DASHBOARD.read_text())):
        names = promql_metric_names(expr)
        assert names, f"panel {title!r}: no metric in {expr!r}"
        for name in names:
            out.setdefault(name, set()).add(title)
    return out


def test_dashboard_queries_name_tailor_metrics_only() -> None:
    metrics = dashboard_metrics()
    assert all(name.startswith("tailor_") for name in metrics), sorted(metrics)
    # the flow metrics every deployment has must be on the dashboard
    for name in (
        "tailor_records_in_total",
        "tailor_records_out_total",
        "tailor_dead_lettered_total",
        "tailor_consumer_lag_messages",
        "tailor_processing_seconds_bucket",
        "tailor_up",
    ):
        assert name in metrics, name


def test_every_dashboard_metric_is_exported_by_a_running_worker(
    settings: TailorSettings, worker: WorkerProcess, shared_dir: Path
) -> None:
    assert settings.kafka_bootstrap
    publish_intent(settings, IntentRequest(text="next subtask data from my robot", domain="robot"))
    paths = [
        shared_dir / "data/gui/aitw",
        shared_dir / "data/robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001",
    ]
    replay(settings, ReplayConfig(paths=paths, rate=0, progress=False))
    producer = KafkaProducer(**kafka_python_kwargs(settings, settings.kafka_bootstrap))
    producer.send(settings.topic_raw_robot, key=b"ep-bad", value=b"\x80\x04 not json")
    producer.flush()
    producer.close()

    wanted = dashboard_metrics()
    must_sample = set(wanted) - ON_FAILURE_ONLY
    deadline = time.monotonic() + 150
    declared, sampled = scraped_names(worker.metrics_text())
    while not must_sample <= sampled and time.monotonic() < deadline:
        assert worker.proc.poll() is None, worker.log()[-3000:]
        time.sleep(1.0)
        declared, sampled = scraped_names(worker.metrics_text())
    undeclared = {n: sorted(t) for n, t in wanted.items() if n not in declared}
    assert not undeclared, f"the dashboard queries metrics the worker does not export: {undeclared}"
    unsampled = {n: sorted(wanted[n]) for n in must_sample - sampled}
    assert not unsampled, f"no samples after real data went through the worker: {unsampled}"


def test_worker_counts_exclude_the_trainer() -> None:
    """The trainer exports tailor_up too (job tailor-trainer): "Workers up" counts the worker job only."""
    dashboard = json.loads((DEPLOY / "grafana/dashboards/tailor.json").read_text())
    counted = [
        (title, expr) for title, expr in dashboard_queries(dashboard) if title in ("Workers up", "Workers")
    ]
    assert len(counted) == 2, counted
    for title, expr in counted:
        assert 'tailor_up{job="tailor-worker",' in expr, (title, expr)
