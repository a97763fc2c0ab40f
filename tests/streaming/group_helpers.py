"""Helpers of the many-worker test: workers started side by side, who owns which partitions (from each
worker's lag gauge), window-state recoveries read from the logs, and the examples the rules backend makes
of the anchors topic when it is synthesised again in one process (the oracle the workers are held to)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.records import DeadLetter
from streaming.settings import TailorSettings
from tests.conftest import WorkerProcess
from tests.streaming.crash_helpers import start_worker

LAG_SERIES = re.compile(r"^tailor_consumer_lag_messages\{([^}]*)\}")
LABEL = re.compile(r'(\w+)="([^"]*)"')
RECOVERED = re.compile(
    r"^(\S+ \S+) INFO streaming\.window_store: recovered window state of partitions \[([\d, ]*)\]: "
    r"(\d+) changes"
)


def start_workers(settings: TailorSettings, names: Sequence[str], log_dir: Path) -> list[WorkerProcess]:
    """`tailor up` once per name (its worker id), all in one consumer group, started side by side."""
    with ThreadPoolExecutor(len(names)) as pool:
        return list(
            pool.map(
                lambda n: start_worker(settings.model_copy(update={"worker_id": n}), log_dir / f"{n}.log"),
                names,
            )
        )


def owned(wp: WorkerProcess, topic: str) -> set[int]:
    """Partitions of `topic` assigned to the worker now, from its lag gauge (empty if it does not answer)."""
    try:
        text = wp.metrics_text()
    except OSError:
        return set()
    out = set()
    for line in text.splitlines():
        m = LAG_SERIES.match(line)
        labels = dict(LABEL.findall(m[1])) if m else {}
        if labels.get("topic") == topic:
            out.add(int(labels["partition"]))
    return out


def assignment(workers: Sequence[WorkerProcess], topic: str) -> list[set[int]]:
    return [owned(w, topic) for w in workers]


def covers(workers: Sequence[WorkerProcess], topic: str, partitions: int) -> bool:
    """Every worker holds some partitions of `topic`, and together they hold each exactly once."""
    sets = assignment(workers, topic)
    return all(sets) and sorted(p for s in sets for p in s) == list(range(partitions))


@dataclass(frozen=True)
class Recovery:
    at: float  # wall clock of the log line
    partitions: frozenset[int]
    changes: int


def recoveries(wp: WorkerProcess) -> list[Recovery]:
    """The worker's window-state recoveries from the changelog (log lines of streaming.window_store)."""
    out = []
    for line in wp.log().splitlines():
        m = RECOVERED.match(line)
        if m:
            at = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            parts = frozenset(int(p) for p in m[2].split(",") if p.strip())
            out.append(Recovery(at, parts, int(m[3])))
    return out


def rules_examples(settings: TailorSettings) -> tuple[set[str], set[str]]:
    """(accepted, rejected) example ids of every anchors message synthesised again in this process with the
    rules backend: partition by partition in offset order, against the intents on the topic, with the
    distractor history the workers read back from the broker. What the group made must be exactly this."""
    return asyncio.run(_rules_examples(settings))


async def _rules_examples(settings: TailorSettings) -> tuple[set[str], set[str]]:
    from prometheus_client import CollectorRegistry

    from agents.intents import IntentParser
    from agents.synthesis.rules_backend import RulesBackend
    from agents.tasks.catalog import families
    from core.dlq import SourcePosition
    from core.metrics import TailorMetrics
    from core.records import Intent
    from streaming.intent_book import IntentBook
    from streaming.stage import DeadLetterSink
    from streaming.synthesis_stage import SynthesisStage
    from streaming.topic_reader import read_messages_async

    class Letters(DeadLetterSink):
        async def send(self, letter: DeadLetter) -> None:
            raise AssertionError(f"the oracle dead-lettered an anchor set: {letter.reason} {letter.detail}")

    by_name = {f.name: f for f in families(settings.tasks)}
    book = IntentBook(IntentParser(by_name, None, settings.default_budget))
    for msg in await read_messages_async(settings, settings.topic_intents):
        await book.apply(Intent.from_bytes(msg.value))
    made: dict[str, set[str]] = {
        t: set() for t in (settings.topic_examples, settings.topic_rejected, settings.topic_skips)
    }

    async def publish(topic: str, key: str, value: bytes) -> None:
        made[topic].add(key)

    stage = SynthesisStage(
        settings,
        RulesBackend(settings.synth_concurrency),
        by_name,
        book,
        TailorMetrics(CollectorRegistry()),
        Letters(),
        publish,
    )
    anchors = await read_messages_async(settings, settings.topic_anchors)
    for msg in sorted(anchors, key=lambda m: (m.partition, m.offset)):
        for family, ctx in await stage.jobs_of(
            msg.value, SourcePosition(msg.topic, msg.partition, msg.offset)
        ):
            await stage.emit(family, ctx, await stage.run_job(family, ctx))
    return made[settings.topic_examples], made[settings.topic_rejected]


def log_lines(workers: Sequence[WorkerProcess], needles: set[str]) -> str:
    """The lines of every worker's log that mention one of `needles` (for failure messages)."""
    out = []
    for w in workers:
        out += [
            f"{w.log_path.stem}: {line}" for line in w.log().splitlines() if any(n in line for n in needles)
        ]
    return "\n".join(sorted(out, key=lambda line: line.split(": ", 1)[1]))
