"""The consumer-lag gauge: high-water mark minus position per assigned partition, on a real broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import TailorMetrics
from core.ports import free_port
from streaming.kafka_clients import aiokafka_kwargs, kafka_python_kwargs
from streaming.lag_monitor import LagMonitor
from streaming.replay.runner import replay
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics
from tests.conftest import REPO, WorkerProcess, settings_env

LAG = "tailor_consumer_lag_messages"


def lag_value(registry: CollectorRegistry, topic: str, partition: int) -> float | None:
    return registry.get_sample_value(LAG, {"topic": topic, "partition": str(partition)})


async def _partial_consumption(
    settings: TailorSettings, registry: CollectorRegistry, gauge_owner: TailorMetrics
) -> None:
    assert settings.kafka_bootstrap
    topic = settings.topic_raw_robot
    producer = KafkaProducer(**kafka_python_kwargs(settings, settings.kafka_bootstrap))
    for i in range(30):
        producer.send(topic, key=b"k", value=b"%d" % i, partition=0 if i < 20 else 1)
    producer.flush()
    producer.close()

    monitor = LagMonitor(gauge_owner.consumer_lag)
    consumer = AIOKafkaConsumer(
        **aiokafka_kwargs(settings, settings.kafka_bootstrap),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
        consumer.assign([tp0, tp1])
        await consumer.seek_to_beginning(tp0, tp1)
        # no fetch answered yet: nothing is known, so nothing is reported (no made-up zeros)
        assert await monitor.update(consumer) == {}
        assert lag_value(registry, topic, 0) is None

        got = await consumer.getmany(tp0, timeout_ms=10_000, max_records=5)
        assert sum(len(v) for v in got.values()) == 5
        deadline = time.monotonic() + 20
        while (
            consumer.highwater(tp0) is None or consumer.highwater(tp1) is None
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        lag = await monitor.update(consumer)
        assert lag == {(topic, 0): 15, (topic, 1): 10}
        assert lag_value(registry, topic, 0) == 15 and lag_value(registry, topic, 1) == 10

        rest = 0
        while rest < 15 and time.monotonic() < deadline:
            batch = await consumer.getmany(tp0, timeout_ms=1000)
            rest += sum(len(v) for v in batch.values())
        await monitor.update(consumer)
        assert lag_value(registry, topic, 0) == 0 and lag_value(registry, topic, 1) == 10

        # a rebalance takes partition 0 away: its series goes, partition 1 stays
        consumer.assign([tp1])
        await monitor.update(consumer)
        assert lag_value(registry, topic, 0) is None
        assert lag_value(registry, topic, 1) == 10
    finally:
        await consumer.stop()


def test_lag_is_highwater_minus_position_per_assigned_partition(settings: TailorSettings) -> None:
    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    registry = CollectorRegistry()
    asyncio.run(_partial_consumption(settings, registry, TailorMetrics(registry)))


def robot_lag(text: str, topic: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == LAG:
            for s in family.samples:
                if s.labels.get("topic") == topic:
                    out[s.labels["partition"]] = s.value
    return out


def test_faust_worker_reports_backlog_and_catches_up(
    settings: TailorSettings, shared_dir: Path, tmp_path: Path
) -> None:
    """A real Faust worker with a slow handler: lag shows while it works through a real robot backlog."""
    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    port = free_port()
    log_path = tmp_path / "lag_worker.log"
    env = settings_env(settings.model_copy(update={"metrics_port": port}))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.streaming.lag_worker"], env=env, stdout=log, stderr=log, cwd=REPO
        )
    wp = WorkerProcess(proc, port, log_path)
    topic = settings.topic_raw_robot
    try:
        deadline = time.monotonic() + 90
        lag: dict[str, float] = {}
        while time.monotonic() < deadline:  # assigned and fetched: every raw-robot partition reports 0
            assert proc.poll() is None, wp.log()[-3000:]
            try:
                lag = robot_lag(wp.metrics_text(), topic)
            except OSError:
                lag = {}
            if set(lag) == {"0", "1"}:
                break
            time.sleep(0.25)
        assert lag == {"0": 0.0, "1": 0.0}, (lag, wp.log()[-3000:])

        bridge = shared_dir / "data/robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001"
        published = replay(settings, ReplayConfig(paths=[bridge], rate=0, progress=False)).published
        assert published == 250
        peak, caught_up = 0.0, False
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not caught_up:
            lag = robot_lag(wp.metrics_text(), topic)
            peak = max(peak, sum(lag.values()))
            caught_up = (
                peak > 0
                and sum(lag.values()) == 0
                and wp.metric("tailor_records_in_total", topic=topic) == published
            )
            time.sleep(0.2)
        print(f"peak lag {peak:.0f} of {published} records")
        assert peak > 0, "the backlog never showed as lag"
        assert peak <= published
        assert caught_up, (lag, wp.metric("tailor_records_in_total", topic=topic), wp.log()[-3000:])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
