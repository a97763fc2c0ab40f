"""`tailor bench scale`: events/s through one consumer group of 1, 2, 3 ... `tailor up` workers, same run.

Each point (a worker count) gets fresh topics with `partitions` partitions, a fresh group and the same real
robot and GUI steps as `tailor bench stream` (Bridge, UMI, AITW, Mind2Web, round after round under fresh
keys, so they spread over the partitions). The workers start together; a warm-up round runs until the
first example, then the point waits until every worker holds partitions and together they hold each once
(read from each worker's lag gauge), loads the group for `settle_s`, and measures `seconds` of saturated
load with a bounded backlog. Throughput counts raw events through extraction (`num_frames` of the anchor
sets, by their Kafka timestamps), as `tailor bench stream` does; ratios are against the 1-worker point
of the same run. Every worker, the broker and the producer share the machine's cores: on 2 cores little
gain is expected (docs/benchmark_stream.md#scaling-out says how it grows with cores and partitions).
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.scale_config import ScaleBenchConfig
from bench.stream import broker_for, live_root, shared_dir_of, side_settings
from bench.stream_rig import BenchError, ChildProcess, LiveSide, StepFeed
from streaming.settings import TailorSettings

WORKER_ARGV = (sys.executable, "-m", "app.cli", "up")
_SERIES = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def series(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The (labels, value) of every series of metric `name` in a /metrics text."""
    out = []
    for line in text.splitlines():
        m = _SERIES.match(line)
        if m and m[1] == name:
            out.append((dict(_LABEL.findall(m[2])), float(m[3])))
    return out


class WorkerGroup:
    """N `tailor up` processes in one group (one worker id and metrics port each); what LiveSide drives
    as its process: start, check, RSS (the sum), stop."""

    def __init__(self, settings: TailorSettings, n: int, log_dir: Path) -> None:
        from core.ports import free_port

        self.workers = [
            ChildProcess(
                WORKER_ARGV,
                settings.model_copy(
                    update={"worker_id": f"{settings.worker_id}-{i}", "metrics_port": free_port()}
                ),
                log_dir / f"worker-{i}.log",
            )
            for i in range(n)
        ]

    def start(self) -> None:
        for w in self.workers:
            w.start()

    def check(self) -> None:
        for w in self.workers:
            w.check()

    def rss_mb(self) -> float:
        return round(sum(w.rss_mb() for w in self.workers), 1)

    def stop(self) -> None:
        for w in self.workers:
            w.stop()

    def metrics(self, w: ChildProcess) -> str:
        url = f"http://127.0.0.1:{w.settings.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return str(resp.read().decode())
        except OSError:
            return ""

    def holdings(self, topic: str) -> list[list[int]]:
        """Per worker, the partitions of `topic` it holds now (its lag gauge's series)."""
        return [
            sorted(
                int(lab["partition"])
                for lab, _v in series(self.metrics(w), "tailor_consumer_lag_messages")
                if lab.get("topic") == topic
            )
            for w in self.workers
        ]

    def events_in(self) -> list[int]:
        """Per worker, raw records it took in (every raw topic)."""
        raw = {self.workers[0].settings.topic_raw_robot, self.workers[0].settings.topic_raw_gui}
        return [
            int(
                sum(
                    v
                    for lab, v in series(self.metrics(w), "tailor_records_in_total")
                    if lab.get("topic") in raw
                )
            )
            for w in self.workers
        ]


def complete(holdings: list[list[int]], partitions: int) -> bool:
    """Every worker holds partitions, and together they hold each exactly once."""
    return all(holdings) and sorted(p for h in holdings for p in h) == list(range(partitions))


def eps_by_count(points: list[dict[str, Any]]) -> dict[str, float]:
    """The median events/s of each worker count's points (one per round), in the order first measured."""
    out: dict[str, list[float]] = {}
    for p in points:
        out.setdefault(str(p["workers"]), []).append(p["eps"])
    return {n: round(statistics.median(v), 1) for n, v in out.items()}


def ratios(eps: dict[str, float]) -> dict[str, float | None]:
    """events/s of each worker count over the 1-worker count's."""
    base = eps["1"]
    return {n: round(v / base, 3) if base > 0 else None for n, v in eps.items()}


def schedule(workers: tuple[int, ...], rounds: int) -> list[int]:
    """The worker counts in measuring order: odd rounds as given, even rounds reversed."""
    return [n for r in range(rounds) for n in (workers if r % 2 == 0 else workers[::-1])]


def run_scale_bench(config: ScaleBenchConfig) -> dict[str, Any]:
    """Every point in `config.workers` order on one broker; figures as a JSON-ready dict."""
    load_start = os.getloadavg()
    points = []
    with live_root(config.data_dir) as root, broker_for(config) as cluster:
        feed = StepFeed.load(shared_dir_of(config), side_settings(config, cluster.bootstrap, root, "feed"))
        for i, n in enumerate(schedule(config.workers, config.rounds)):
            settings = side_settings(config, cluster.bootstrap, root, f"scale{n}-{i}").model_copy(
                update={"lag_interval_s": config.lag_interval_s}
            )
            points.append({"round": 1 + i // len(config.workers), **measure_point(config, settings, n, feed)})
    eps = eps_by_count(points)
    return {
        "cpu_count": os.cpu_count(),
        "partitions": config.partitions,
        "seconds": config.seconds,
        "events_per_round": len(feed.events),
        "load_avg_start": [round(x, 2) for x in load_start],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "rounds": config.rounds,
        "eps": eps,
        "ratio": ratios(eps),
        "points": points,
    }


def measure_point(
    config: ScaleBenchConfig, settings: TailorSettings, n: int, feed: StepFeed
) -> dict[str, Any]:
    side = LiveSide(config, settings, f"workers{n}", WORKER_ARGV, feed)
    group = WorkerGroup(settings, n, settings.data_dir)
    side.process = group  # type: ignore[assignment]  # the same start/check/rss_mb/stop, for N processes
    side.prepare()
    try:
        return asyncio.run(_measure(config, side, group, n))
    finally:
        side.cleanup()


async def _measure(config: ScaleBenchConfig, side: LiveSide, group: WorkerGroup, n: int) -> dict[str, Any]:
    topic = side.settings.topic_raw_robot
    async with side.running():
        started = time.monotonic()
        await side.warm_up()
        deadline = time.monotonic() + config.group_timeout_s
        while not complete(await asyncio.to_thread(group.holdings, topic), config.partitions):
            group.check()
            if time.monotonic() > deadline:
                raise BenchError(
                    "group_incomplete", f"{n} workers never split {config.partitions} partitions"
                )
            await asyncio.sleep(0.5)
        ready_s = time.monotonic() - started
        if config.settle_s > 0:
            await side.saturate(config.settle_s, config.backlog_events)
        before = await asyncio.to_thread(group.events_in)
        s0, s1 = await side.saturate(config.seconds, config.backlog_events)
        drain_s = await side.drain()
        after = await asyncio.to_thread(group.events_in)
        holdings = await asyncio.to_thread(group.holdings, topic)
        rss = group.rss_mb()
    eps = side.collector.frames_between(s0, s1) / (s1 - s0)
    return {
        "workers": n,
        "eps": round(eps, 1),
        "examples_per_s": round(side.collector.examples_between(s0, s1) / (s1 - s0), 2),
        "measured_s": round(s1 - s0, 2),
        "group_ready_s": round(ready_s, 1),
        "drain_s": round(drain_s, 2),
        "drained": side.drained,
        "capped": side.capped,
        "events_sent": side.producer.acked,
        "dlq": sum(side.collector.dlq_reasons.values()),
        "partitions_per_worker": [len(h) for h in holdings],
        "events_per_worker": [a - b for a, b in zip(after, before, strict=True)],
        "rss_mb_total": rss,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
