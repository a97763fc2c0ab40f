"""The live rig of `tailor bench stream` and `tailor bench soak`.

- `StepFeed`: the real robot and GUI steps (Bridge, UMI, AITW, Mind2Web) read once with the replay readers,
  merged in recording order, handed out round after round under fresh keys `<key>-rN`.
- `RawProducer`: aiokafka; remembers the Kafka timestamp of every raw event by (topic, partition, offset).
- `Collector`: reads a side's anchors, examples, rejected and DLQ topics with their Kafka timestamps;
  `processed` = raw events through extraction (anchor sets' `num_frames`) + raw events dead-lettered.
- `ChildProcess`: the worker (or the bare baseline) with its settings in the environment, its log, its RSS.
- `LiveSide`: one side's topics, intents, processes and phases (warm-up, saturate, paced, drain).
Every wait is bounded; everything is on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import json
import logging
import os
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stream_config import LiveRigConfig
from core.errors import TailorError
from core.topics_config import TopicsConfig
from streaming.replay.base import ReplayEvent
from streaming.settings import TailorSettings

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
STEP_DATA = ("robot/bridge", "robot/umi_cup_in_the_wild", "gui/aitw", "gui/mind2web")


class BenchError(TailorError, RuntimeError):
    """A live benchmark that cannot go on; `reason` is a short label."""


def settings_env(s: TailorSettings) -> dict[str, str]:
    """The environment that makes a child process see the same settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAILOR_")}
    for name, value in s.model_dump(mode="json").items():
        if value is not None:
            # lists and the nested groups (tasks, extractors) as JSON, as the settings read them
            text = json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)
            env[f"TAILOR_{name.upper()}"] = text
    if s.kafka_sasl_password is not None:
        env["TAILOR_KAFKA_SASL_PASSWORD"] = s.kafka_sasl_password.get_secret_value()
    return env


def rss_slope(samples: list[tuple[float, float]]) -> float | None:
    """Least-squares trend of (seconds, MiB) samples, MiB per minute; None for fewer than 3 samples."""
    if len(samples) < 3:
        return None
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    if var == 0:
        return None
    return round(60 * sum((t - mean_t) * (m - mean_m) for t, m in samples) / var, 2)


def rss_level(samples: list[tuple[float, float]], t_from: float, t_to: float) -> float | None:
    """Median MiB of the (time, MiB) samples taken in [t_from, t_to]; None if there are none."""
    values = sorted(mb for t, mb in samples if t_from <= t <= t_to)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else round((values[mid - 1] + values[mid]) / 2, 1)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """VmRSS (or another /proc status field in kB, e.g. VmHWM) of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise BenchError("no_rss", f"no {field} for pid {pid}")


class StepFeed:
    """Real steps read once; `messages` hands them out round after round under fresh keys."""

    def __init__(self, events: list[ReplayEvent]) -> None:
        self.events = events

    @classmethod
    def load(cls, shared: Path, settings: TailorSettings) -> StepFeed:
        from streaming.replay.detect import open_sources
        from streaming.replay.runner import media_factory

        paths = [shared / "data" / d for d in STEP_DATA]
        sources = open_sources(paths, None, media_factory(settings), settings)
        events = list(heapq.merge(*(src.events(0.0, 1.0) for src in sources), key=lambda ev: ev.at_s))
        if not events:
            raise BenchError("no_events", f"no robot or GUI steps under {shared}/data")
        return cls(events)

    def messages(self, topics: TopicsConfig) -> Iterator[tuple[str, bytes, bytes]]:
        """(topic, key, value) without end; round N renames every key to `<key>-rN`."""
        from streaming.topics import spec_for

        round_no = 0
        while True:
            for ev in self.events:
                spec = spec_for(topics, type(ev.record))
                key = f"{ev.key}-r{round_no}"
                yield spec.name, key.encode(), ev.record.model_copy(update={spec.key_field: key}).to_bytes()
            round_no += 1


class RawProducer:
    def __init__(self, settings: TailorSettings) -> None:
        self.settings = settings
        self.producer: Any = None
        self.sent = 0
        self.acked = 0
        self.failed = 0
        self.sent_ms: dict[tuple[str, int, int], int] = {}

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        from streaming.kafka_clients import aiokafka_kwargs

        assert self.settings.kafka_bootstrap
        self.producer = AIOKafkaProducer(
            **aiokafka_kwargs(self.settings, self.settings.kafka_bootstrap),
            max_request_size=32 << 20,
            linger_ms=5,
        )
        await self.producer.start()

    async def send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[Any]:
        """Send one raw event; the future gives its record metadata (partition, offset) once acked."""
        ts = int(time.time() * 1000)
        fut = await self.producer.send(topic, value=value, key=key, timestamp_ms=ts)
        self.sent += 1
        fut.add_done_callback(functools.partial(self._done, topic, ts))
        return fut

    async def send_side(self, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
        """A message that is no raw event (a model update): not counted in sent/acked; (partition, offset)."""
        meta = await self.producer.send_and_wait(topic, value=value, key=key)
        return meta.partition, meta.offset

    def _done(self, topic: str, ts: int, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self.failed += 1
            return
        meta = fut.result()
        self.sent_ms[(topic, meta.partition, meta.offset)] = ts
        self.acked += 1

    async def flush(self) -> None:
        await self.producer.flush()

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()


@dataclass(frozen=True)
class Output:
    at_ms: int
    topic: str
    partition: int
    first_offset: int
    last_offset: int
    frames: int = 0


class Collector:
    def __init__(self, settings: TailorSettings) -> None:
        self.settings = settings
        self.anchors: list[Output] = []
        self.examples: list[Output] = []
        self.rejected = 0
        self.dlq_reasons: Counter[str] = Counter()
        self.frames = 0
        self.raw_dead = 0
        self.window_dead = 0
        # every dead letter: (stage, reason, source topic, partition, offset)
        self.letters: list[tuple[str, str, str, int, int]] = []
        self.last_output = time.monotonic()
        self.consumer: Any = None
        self.task: asyncio.Task[None] | None = None

    @property
    def processed(self) -> int:
        """Raw events through extraction, or dead-lettered (a window-level letter counts one event: the soak's
        hostile windows hold one segment each; other runs have none)."""
        return self.frames + self.raw_dead + self.window_dead

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from streaming.kafka_clients import aiokafka_kwargs

        s = self.settings
        assert s.kafka_bootstrap
        self.consumer = AIOKafkaConsumer(
            **aiokafka_kwargs(s, s.kafka_bootstrap),
            enable_auto_commit=False,
            group_id=None,
            max_partition_fetch_bytes=16 << 20,
        )
        await self.consumer.start()
        topics = (s.topic_anchors, s.topic_examples, s.topic_rejected, s.topic_dlq)
        tps = [TopicPartition(t, p) for t in topics for p in range(s.partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)
        self.task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=200, max_records=1000)
            for tp, msgs in batch.items():
                for msg in msgs:
                    self.take(tp.topic, msg.timestamp, msg.value)

    def take(self, topic: str, at_ms: int, value: bytes) -> None:
        s = self.settings
        self.last_output = time.monotonic()
        if topic == s.topic_rejected:
            self.rejected += 1
            return
        data = json.loads(value)
        if topic == s.topic_dlq:
            self.dlq_reasons[data["reason"]] += 1
            stage = str(data["stage"])
            where = (data["source_topic"], int(data["source_partition"]), int(data["source_offset"]))
            self.letters.append((stage, data["reason"], *where))
            if stage.startswith("anchors_"):
                self.window_dead += 1
            elif not stage.startswith("synthesis") and where[0] != s.topic_model_updates:
                self.raw_dead += 1  # one raw event; window-level letters stand for windows, not events
            return
        span = data["span"] if topic == s.topic_anchors else data["source"]
        out = Output(
            at_ms,
            span["topic"],
            span["partition"],
            span["first_offset"],
            span["last_offset"],
            int(data.get("num_frames", 0)),
        )
        if topic == s.topic_anchors:
            self.anchors.append(out)
            self.frames += out.frames
        else:
            self.examples.append(out)

    def frames_between(self, t0: float, t1: float) -> int:
        return sum(a.frames for a in self.anchors if t0 * 1000 <= a.at_ms < t1 * 1000)

    def examples_between(self, t0: float, t1: float) -> int:
        return sum(1 for e in self.examples if t0 * 1000 <= e.at_ms < t1 * 1000)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.consumer is not None:
            await self.consumer.stop()


class ChildProcess:
    def __init__(self, argv: tuple[str, ...], settings: TailorSettings, log_path: Path) -> None:
        self.argv = argv
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                list(self.argv),
                env=settings_env(self.settings),
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
            )

    def check(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
            raise BenchError("worker_exited", f"{' '.join(self.argv[1:])} is not running:\n{tail}")

    def rss_mb(self) -> float:
        assert self.proc is not None
        return rss_mb(self.proc.pid)

    def peak_rss_mb(self) -> float:
        """VmHWM: the most RSS the process ever had (no sample can miss a short peak), MiB."""
        assert self.proc is not None
        return rss_mb(self.proc.pid, "VmHWM")

    def children_peak_rss_mb(self) -> float:
        """The highest VmHWM among the live processes below it (its decoder pool), MiB; 0 without any. A
        decoder replaced during the run took its peak with it: its RLIMIT_AS bounded it."""
        assert self.proc is not None
        peaks, todo = [0.0], [self.proc.pid]
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError, ValueError, BenchError):  # a child may exit meanwhile
                # each thread lists the children it started (the pool's forkserver is not the main thread's)
                kids = [
                    int(k)
                    for t in Path(f"/proc/{pid}/task").iterdir()
                    for k in (t / "children").read_text().split()
                ]
                todo += kids
                peaks += [rss_mb(k, "VmHWM") for k in kids if Path(f"/proc/{k}/status").exists()]
        return max(peaks)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class LiveSide:
    """One side of a live run: its topics and intents, its child process and the phases that load it."""

    def __init__(
        self,
        config: LiveRigConfig,
        settings: TailorSettings,
        kind: str,
        argv: tuple[str, ...],
        feed: StepFeed,
    ) -> None:
        self.config = config
        self.settings = settings
        self.kind = kind
        self.feed = feed
        self.messages = feed.messages(settings)
        self.producer = RawProducer(settings)
        self.collector = Collector(settings)
        self.process = ChildProcess(argv, settings, settings.data_dir / f"{kind}.log")
        self.rss_series: list[tuple[float, float]] = []
        self.drained = True
        self.capped = False

    def prepare(self) -> None:
        """Topics (with the window changelog) and the intents, before the child starts."""
        from streaming.intent_publish import IntentRequest, publish_intent
        from streaming.topics import ensure_topics
        from streaming.window_store import changelog_topic

        s = self.settings
        assert s.kafka_bootstrap
        ensure_topics(s, s, s.kafka_bootstrap, extra_compacted=(changelog_topic(s),))
        for text, domain in self.config.intents:
            publish_intent(s, IntentRequest(text=text, domain=domain))

    def cleanup(self) -> None:
        """Delete this side's topics (its app id prefixes them all), so the broker holds nothing of it."""
        from kafka.admin import KafkaAdminClient

        from streaming.kafka_clients import kafka_python_kwargs

        s = self.settings
        assert s.kafka_bootstrap
        admin = KafkaAdminClient(client_id="tailor-bench", **kafka_python_kwargs(s, s.kafka_bootstrap))
        try:
            mine = [t for t in admin.list_topics() if t.startswith(s.app_id)]
            if mine:
                admin.delete_topics(mine)
        except Exception as exc:  # cleanup must not hide the figures
            log.warning("could not delete the topics of %s: %s", s.app_id, exc)
        finally:
            admin.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LiveSide]:
        await self.producer.start()
        await self.collector.start()
        self.process.start()
        sampler = asyncio.create_task(self._sample_rss())
        try:
            yield self
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
            self.process.stop()
            await self.collector.stop()
            await self.producer.stop()

    async def _sample_rss(self) -> None:
        while True:
            with contextlib.suppress(OSError, BenchError, AssertionError):
                self.rss_series.append((time.time(), self.process.rss_mb()))
            await asyncio.sleep(self.config.rss_sample_s)

    async def send_next(self) -> None:
        await self.producer.send(*next(self.messages))

    async def warm_up(self) -> None:
        """One round, then wait (bounded) for the first example: group joined, intents read, agents up."""
        for _ in range(len(self.feed.events)):
            await self.send_next()
        await self.producer.flush()
        deadline = time.monotonic() + self.config.start_timeout_s
        while not self.collector.examples:
            self.process.check()
            if time.monotonic() > deadline:
                raise BenchError(
                    "no_examples", f"{self.kind}: no example within {self.config.start_timeout_s}s"
                )
            await asyncio.sleep(0.2)
        await self.drain()

    async def saturate(self, seconds: float, backlog: int) -> tuple[float, float]:
        """Keep at most `backlog` events ahead of extraction for `seconds`; return the phase's wall times."""
        t0 = time.time()
        end = t0 + seconds
        while time.time() < end and not self.at_cap():
            if self.producer.sent - self.collector.processed < backlog:
                await self.send_next()
                if self.producer.sent % 100 == 0:
                    self.process.check()
                    await asyncio.sleep(0)
            else:
                self.process.check()
                await asyncio.sleep(0.005)
        return t0, time.time()

    async def paced(
        self, rate: float, seconds: float, send: Callable[[int], Awaitable[None]] | None = None
    ) -> tuple[float, float]:
        """`rate` messages/s for `seconds` (message i from `send(i)`, default: the next step); its times."""
        t0 = time.time()
        i = 0
        while (due := t0 + i / rate) < t0 + seconds and not self.at_cap():
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await (send(i) if send is not None else self.send_next())
            i += 1
            if i % 50 == 0:
                self.process.check()
        return t0, time.time() if self.capped else t0 + seconds

    def at_cap(self) -> bool:
        """True once `max_events` were sent: phases end early rather than fill the broker's memory."""
        if self.producer.sent >= self.config.max_events and not self.capped:
            log.warning("%s: %d events sent, the cap; ending the phase early", self.kind, self.producer.sent)
            self.capped = True
        return self.capped

    async def drain(self) -> float:
        """Wait (bounded) until every event sent is processed and output has been idle; seconds waited."""
        started = time.monotonic()
        await self.producer.flush()
        deadline = started + self.config.drain_timeout_s
        while time.monotonic() < deadline:
            self.process.check()
            caught_up = self.collector.processed >= self.producer.acked
            if caught_up and time.monotonic() - self.collector.last_output >= self.config.idle_s:
                return max(0.0, self.collector.last_output - started)
            await asyncio.sleep(0.1)
        self.drained = False
        log.warning(
            "%s: not drained in %.0fs (%d of %d events processed)",
            self.kind,
            self.config.drain_timeout_s,
            self.collector.processed,
            self.producer.acked,
        )
        return time.monotonic() - started

    def latencies(
        self, t0: float, t1: float, outputs: list[Output] | None = None
    ) -> tuple[list[float], list[float], list[float]]:
        """Of outputs (default: the examples) whose window began in [t0, t1): ms from the window's last raw
        event to the output's Kafka timestamp, ms from its first raw event, and the window's span in ms."""
        last_ms, first_ms, span_ms = [], [], []
        for e in self.collector.examples if outputs is None else outputs:
            first = self.producer.sent_ms.get((e.topic, e.partition, e.first_offset))
            last = self.producer.sent_ms.get((e.topic, e.partition, e.last_offset))
            if first is not None and last is not None and t0 * 1000 <= first < t1 * 1000:
                last_ms.append(float(e.at_ms - last))
                first_ms.append(float(e.at_ms - first))
                span_ms.append(float(last - first))
        return last_ms, first_ms, span_ms
