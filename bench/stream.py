"""`tailor bench stream`: the Faust pipeline against a bare consume → extract → synthesise → produce loop.

Both sides run as child processes on the same broker, in the same run, fed by the same producer with
the same real robot and GUI steps (Bridge TFRecord, UMI, AITW, Mind2Web; looped round after round under
fresh keys `<key>-rN`). The pipeline is `tailor up` (rules synthesis, OCR off, short grace and gap); the
baseline (`BareBaseline`, run as `python -m bench.stream`) reads with a plain aiokafka consumer, parses
and checks each record, groups it under its key and, on the key's final step (or a full window, or an
idle key), runs the same `WindowAnchoring.facts` → `AnchorSet` (`AnchorEmitter`) → the same synthesis
jobs, rules backend and `judge` (`SynthesisStage`) → produce. The ratio shows what the framework, the
windowing (changelogged state, media spilled to the blob store), the Parquet sink and the plumbing cost.

Each side: warm-up (one round, until its first example), a sustained phase with a bounded backlog
(events produced but not yet through extraction), a drain, a paced phase at a fixed rate in which
latency is measured, a drain. Throughput counts raw events through extraction (`num_frames` of the
anchor sets that arrive, by their Kafka timestamps); latency runs from the Kafka timestamp of the last
raw event of an example's window (the event that completes it) to the example's Kafka timestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stream_config import LiveRigConfig, StreamBenchConfig
from bench.stream_rig import REPO, STEP_DATA, BenchError, LiveSide, StepFeed, rss_mb, rss_slope
from core.dlq import SourcePosition, dead_letter
from core.records import DeadLetter, RecordError, TailorRecord
from core.topics_config import TopicsConfig
from streaming.settings import TailorSettings
from streaming.stage import DeadLetterSink

log = logging.getLogger(__name__)

SIDES = {"pipeline": ("-m", "app.cli", "up"), "baseline": ("-m", "bench.stream", "baseline")}
PIPELINE_FIGURES = (
    "latency_rate_eps",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_first_event_p95_ms",
    "window_span_p95_ms",
    "anchor_latency_p95_ms",
    "latency_examples",
    "rss_cold_mb",
    "rss_start_mb",
    "rss_end_mb",
    "rss_peak_mb",
    "rss_slope_mb_per_min",
)
BASELINE_FIGURES = ("latency_p50_ms", "latency_p95_ms", "rss_cold_mb", "rss_start_mb", "rss_end_mb")
TOPIC_FIELDS = (
    "raw_video",
    "raw_gui",
    "raw_robot",
    "intents",
    "anchors",
    "examples",
    "rejected",
    "feedback",
    "model_updates",
    "dlq",
)


def run_stream_bench(config: StreamBenchConfig) -> dict[str, Any]:
    """Both sides, pipeline first (its eps sets the paced rate of both); figures as a JSON-ready dict."""
    load_start = os.getloadavg()
    with live_root(config.data_dir) as root, broker_for(config) as cluster:
        feed = StepFeed.load(shared_dir_of(config), side_settings(config, cluster.bootstrap, root, "feed"))
        pipeline = measure_side(
            config,
            cluster,
            side_settings(config, cluster.bootstrap, root, "pipeline"),
            "pipeline",
            feed,
            None,
        )
        baseline = measure_side(
            config,
            cluster,
            side_settings(config, cluster.bootstrap, root, "baseline"),
            "baseline",
            feed,
            pipeline["latency_rate_eps"],
        )
    ratio = pipeline["eps"] / baseline["eps"] if baseline["eps"] > 0 else 0.0
    rss_start, rss_end = pipeline["rss_start_mb"], pipeline["rss_end_mb"]
    rss_growth = 100.0 * (rss_end - rss_start) / max(rss_start, 1e-9)
    p95 = pipeline["latency_p95_ms"]
    return {
        "seconds": config.seconds,
        "settle_s": config.settle_s,
        "latency_seconds": pipeline["latency_seconds"],
        "events_per_round": len(feed.events),
        "partitions": config.partitions,
        "cpu_count": os.cpu_count(),
        "load_avg_start": [round(x, 2) for x in load_start],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "baseline_eps": baseline["eps"],
        "pipeline_eps": pipeline["eps"],
        "ratio": round(ratio, 3),
        "baseline_examples_per_s": baseline["examples_per_s"],
        "pipeline_examples_per_s": pipeline["examples_per_s"],
        **{k: pipeline[k] for k in PIPELINE_FIGURES},
        "rss_growth_pct": round(rss_growth, 2),
        **{f"baseline_{k}": baseline[k] for k in BASELINE_FIGURES},
        "broker_rss_mb": [pipeline["broker_rss_mb"], baseline["broker_rss_mb"]],
        "targets": {
            "ratio_ge_0_5": ratio >= 0.5,
            "latency_p95_le_window_plus_2s": p95 is not None and p95 <= 2000.0,
            "rss_growth_lt_10pct": rss_growth < 10.0,
        },
        "pipeline": pipeline,
        "baseline": baseline,
    }


def measure_side(
    config: StreamBenchConfig,
    cluster: Cluster,
    settings: TailorSettings,
    kind: str,
    feed: StepFeed,
    latency_rate: float | None,
) -> dict[str, Any]:
    """Warm-up, sustained phase, drain, paced phase, drain; the side's figures. Its topics are deleted
    after, so the next side finds the broker as empty as this one did."""
    side = LiveSide(config, settings, kind, (sys.executable, *SIDES[kind]), feed)
    side.prepare()
    try:
        result = asyncio.run(_measure(config, side, latency_rate))
        result["broker_rss_mb"] = cluster.broker_rss_mb()
        return result
    finally:
        side.cleanup()


async def _measure(config: StreamBenchConfig, side: LiveSide, latency_rate: float | None) -> dict[str, Any]:
    async with side.running():
        await side.warm_up()
        rss_cold = side.process.rss_mb()
        if config.settle_s > 0:
            await side.saturate(config.settle_s, config.backlog_events)
            await side.drain()
        rss_start = side.process.rss_mb()
        s0, s1 = await side.saturate(config.seconds, config.backlog_events)
        drain_s = await side.drain()
        eps = side.collector.frames_between(s0, s1) / (s1 - s0)
        examples_per_s = side.collector.examples_between(s0, s1) / (s1 - s0)
        rate = latency_rate or config.latency_rate_eps or max(1.0, config.latency_load * eps)
        latency_s = config.latency_seconds or config.seconds / 2
        p0, p1 = await side.paced(rate, latency_s)
        await side.drain()
        rss_end = side.process.rss_mb()
        last, first, span = side.latencies(p0, p1)
        anchor_last = side.latencies(p0, p1, side.collector.anchors)[0]
    return {
        "kind": side.kind,
        "app_id": side.settings.app_id,
        "eps": round(eps, 1),
        "examples_per_s": round(examples_per_s, 2),
        "sustained_s": round(s1 - s0, 2),
        "drain_after_sustained_s": round(drain_s, 2),
        "drained": side.drained,
        "capped": side.capped,
        "events_sent": side.producer.acked,
        "send_failures": side.producer.failed,
        "anchors": len(side.collector.anchors),
        "examples": len(side.collector.examples),
        "rejected": side.collector.rejected,
        "dlq": sum(side.collector.dlq_reasons.values()),
        "latency_rate_eps": round(rate, 1),
        "latency_seconds": latency_s,
        "latency_examples": len(last),
        "latency_p50_ms": percentile(last, 50),
        "latency_p95_ms": percentile(last, 95),
        "latency_first_event_p95_ms": percentile(first, 95),
        "window_span_p95_ms": percentile(span, 95),
        "anchor_latency_p50_ms": percentile(anchor_last, 50),
        "anchor_latency_p95_ms": percentile(anchor_last, 95),
        "latency_samples_ms": latency_samples(last),
        "rss_cold_mb": rss_cold,
        "rss_start_mb": rss_start,
        "rss_end_mb": rss_end,
        "rss_peak_mb": max([mb for _t, mb in side.rss_series] + [rss_start, rss_end]),
        "rss_slope_mb_per_min": rss_slope([(t - s0, mb) for t, mb in side.rss_series if t >= s0]),
        "rss_series": [
            [round(t - s0, 1), mb] for t, mb in side.rss_series
        ],  # seconds since the sustained phase
    }


def shared_dir_of(config: LiveRigConfig) -> Path:
    shared = config.shared_dir or REPO / ".." / "shared"
    missing = [d for d in STEP_DATA if not (shared / "data" / d).exists()]
    if missing:
        raise BenchError(
            "missing_data", f"{shared}/data lacks {', '.join(missing)} (the real robot and GUI steps)"
        )
    return shared


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile, rounded to 0.1; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)], 1)


LATENCY_SAMPLES_CAP = 2000


def latency_samples(values: list[float], cap: int = LATENCY_SAMPLES_CAP) -> list[float]:
    """The latencies sorted and rounded to 0.1 ms, for plots; above `cap` values an evenly spaced subset
    of the sorted ones (first and last kept), so the JSON stays small and the distribution's shape stays."""
    ordered = sorted(values)
    if len(ordered) > cap:
        step = (len(ordered) - 1) / (cap - 1)
        ordered = [ordered[round(i * step)] for i in range(cap)]
    return [round(v, 1) for v in ordered]


def side_settings(config: LiveRigConfig, bootstrap: str, root: Path, name: str) -> TailorSettings:
    """Settings of one side: its own topics, group, data dir and metrics port; rules synthesis, OCR off."""
    from core.ports import free_port
    from streaming.settings import load_settings

    prefix = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    defaults = TopicsConfig()
    topics: dict[str, Any] = {}
    for t in TOPIC_FIELDS:
        topics[f"topic_{t}"] = f"{prefix}.{getattr(defaults, f'topic_{t}').removeprefix('tailor.')}"
    return load_settings(
        kafka_bootstrap=bootstrap,
        app_id=prefix,
        data_dir=root / name,
        worker_id=f"bench-{name}",
        partitions=config.partitions,
        window_grace_s=config.window_grace_s,
        window_gap_s=config.window_gap_s,
        window_sweep_interval_s=config.window_sweep_interval_s,
        kafka_session_timeout_s=config.session_timeout_s,
        synth_backend="rules",
        ocr_enabled=False,
        intent_model_enabled=False,
        synth_batch_window_s=0.2,
        sink_flush_s=config.sink_flush_s,
        metrics_port=free_port(),
        log_level=config.log_level,
        **topics,
    )


@contextlib.contextmanager
def live_root(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        yield data_dir
        return
    root = Path(tempfile.mkdtemp(prefix="tailor-bench-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Cluster:
    bootstrap: str
    broker_pid: int | None = None
    """The embedded broker this run started, if it did."""

    def broker_rss_mb(self) -> float | None:
        return rss_mb(self.broker_pid) if self.broker_pid else None


@contextlib.contextmanager
def broker_for(config: LiveRigConfig) -> Iterator[Cluster]:
    if config.kafka_bootstrap:
        yield Cluster(config.kafka_bootstrap)
        return
    from streaming.broker import EmbeddedBroker
    from streaming.broker_config import BrokerConfig

    broker = EmbeddedBroker(BrokerConfig())
    bootstrap = broker.start()
    try:
        yield Cluster(bootstrap, broker.pid)
    finally:
        broker.stop()


# --- the baseline: the same per-window work with no framework, no window store and no state -------


class BareDeadLetters(DeadLetterSink):
    def __init__(self, producer: Any, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    async def send(self, letter: DeadLetter) -> None:
        await self.producer.send(self.topic, key=letter.source_topic.encode(), value=letter.to_bytes())


@dataclass
class OpenKey:
    topic: str
    partition: int
    seq: int
    items: list[tuple[TailorRecord, int]] = field(default_factory=list)
    last_seen: float = 0.0


class BareBaseline:
    """aiokafka consume → check → per key until final | full | idle → anchors → synthesis → produce."""

    def __init__(self, settings: TailorSettings) -> None:
        self.settings = settings
        self.open: dict[tuple[str, str], OpenKey] = {}
        self.next_seq: dict[tuple[str, str], int] = {}
        self.anchors_out = 0  # the bare loop's own count stands for the anchors offset (distractor history)

    async def run(self, stop: asyncio.Event) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        from streaming.intent_book import watch_intents
        from streaming.kafka_clients import aiokafka_kwargs

        s = self.settings
        assert s.kafka_bootstrap
        kw = aiokafka_kwargs(s, s.kafka_bootstrap)
        self.producer = AIOKafkaProducer(**kw, max_request_size=32 << 20, linger_ms=5)
        consumer = AIOKafkaConsumer(
            **kw, enable_auto_commit=False, group_id=None, max_partition_fetch_bytes=16 << 20
        )
        await self.producer.start()
        await consumer.start()
        self._build()
        ready = asyncio.Event()
        watcher = asyncio.create_task(watch_intents(s, self.stage.book, self._bad_intent, ready))
        try:
            await ready.wait()  # like the worker: no window is judged against an empty intent book
            parts = [TopicPartition(t, p) for t in self.specs for p in range(s.partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            swept = time.monotonic()
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=100, max_records=500)
                for msgs in batch.values():
                    for msg in msgs:
                        await self.take(msg.topic, msg.partition, msg.offset, msg.key, msg.value)
                if time.monotonic() - swept >= s.window_sweep_interval_s:
                    swept = time.monotonic()
                    await self.sweep(swept)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await consumer.stop()
            await self.producer.stop()

    def _build(self) -> None:
        """The same experts, frame store, synthesis stage and checks as the worker builds."""
        from prometheus_client import CollectorRegistry

        from agents.intents import IntentParser
        from agents.synthesis.rules_backend import RulesBackend
        from agents.tasks.catalog import families
        from core.metrics import TailorMetrics
        from streaming.anchor_emitter import AnchorEmitter
        from streaming.anchor_stage import anchorings, frame_store
        from streaming.app import blob_store
        from streaming.ingest_checks import checks_for
        from streaming.intent_book import IntentBook
        from streaming.synthesis_stage import SynthesisStage
        from streaming.topics import topic_specs

        s = self.settings
        metrics = TailorMetrics(CollectorRegistry())
        self.dlq = BareDeadLetters(self.producer, s.topic_dlq)
        by_name = {f.name: f for f in families(s.tasks)}
        book = IntentBook(IntentParser(by_name, None, s.default_budget))
        self.stage = SynthesisStage(
            s, RulesBackend(s.synth_concurrency), by_name, book, metrics, self.dlq, self._publish
        )
        blobs, frames = blob_store(s), frame_store(s)
        self.specs = {spec.name: spec for spec in topic_specs(s) if spec.role in ("raw_robot", "raw_gui")}
        self.checks = {name: checks_for(spec.record, s, blobs) for name, spec in self.specs.items()}
        self.roles = {}
        for role, (adapter, anchoring) in anchorings(s, blobs).items():
            emitter = AnchorEmitter(
                anchoring,
                frames,
                self._anchors,
                self.dlq,
                metrics,
                s.window_extract_timeout_s,
                s.max_key_frames,
                s.worker_id,
            )
            self.roles[role] = (adapter, emitter)

    async def _publish(self, topic: str, key: str, value: bytes) -> None:
        await self.producer.send(topic, key=key.encode(), value=value)

    async def _bad_intent(
        self, reason: str, detail: str, pos: SourcePosition, key: bytes | None, value: bytes | None
    ) -> None:
        await self.stage.dead_letter(reason, detail, pos, key, value)

    async def _anchors(self, anchor_set: Any) -> None:
        """An anchor set out, then its synthesis jobs at once (the worker batches them across windows)."""
        await self._publish(self.settings.topic_anchors, anchor_set.window_id, anchor_set.to_bytes())
        pos = SourcePosition(self.settings.topic_anchors, 0, self.anchors_out)
        self.anchors_out += 1
        work = self.stage.jobs(anchor_set, await self.stage.pool.before(pos, anchor_set))
        results = await asyncio.gather(*(self.stage.run_job(f, c) for f, c in work))
        for (family, ctx), result in zip(work, results, strict=True):
            await self.stage.emit(family, ctx, result)

    async def take(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None
    ) -> None:
        s, spec = self.settings, self.specs[topic]
        pos = SourcePosition(topic, partition, offset)
        try:
            record = spec.record.from_bytes(value, max_bytes=s.max_message_bytes, max_depth=s.max_json_depth)
            for check in self.checks[topic]:
                check.check(record)
        except RecordError as exc:
            await self.dlq.send(
                dead_letter(
                    reason=exc.reason,
                    detail=exc.detail,
                    stage="bare_ingest",
                    source=pos,
                    key=key,
                    value=value,
                    worker=s.worker_id,
                    payload_cap=s.dlq_payload_bytes,
                )
            )
            return
        adapter = self.roles[spec.role][0]
        name = (spec.role, adapter.key(record))
        win = self.open.get(name)
        if win is None:
            win = self.open[name] = OpenKey(topic, partition, self.next_seq.pop(name, 0))
        win.items.append((record, offset))
        win.last_seen = time.monotonic()
        if adapter.is_last(record):
            await self.close(name, "final")
        elif len(win.items) >= s.window_max_items:
            await self.close(name, "size")

    async def sweep(self, now: float) -> None:
        idle = self.settings.window_gap_s + self.settings.window_grace_s
        for name in [n for n, w in self.open.items() if now - w.last_seen >= idle]:
            await self.close(name, "gap")

    async def close(self, name: tuple[str, str], reason: str) -> None:
        from core.window import ClosedWindow

        win = self.open.pop(name)
        adapter, emitter = self.roles[name[0]]
        offsets = [o for _r, o in win.items]
        records = sorted((r for r, _o in win.items), key=adapter.index)
        if reason == "size":
            self.next_seq[name] = win.seq + 1
        await emitter.close(
            ClosedWindow(
                adapter.domain,
                name[1],
                win.seq,
                win.topic,
                win.partition,
                min(offsets),
                max(offsets),
                records,
                reason,
            )
        )


def baseline_main() -> int:
    """Entry point of the baseline child process: settings from the TAILOR_* environment, stop on SIGTERM."""
    from streaming.logging_setup import configure_logging
    from streaming.settings import load_settings

    settings = load_settings()
    configure_logging(
        settings.log_level, settings.log_json, settings.log_repeat_burst, settings.log_repeat_interval_s
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await BareBaseline(settings).run(stop)

    asyncio.run(main())
    return 0


if __name__ == "__main__":
    sys.exit(baseline_main())
