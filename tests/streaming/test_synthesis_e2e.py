"""From replay and an intent to examples on the topic and in Parquet, through a live worker (rules backend); the
rejected topic reaches the dataset's __rejected/ table through the same worker, once per candidate."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
from kafka import KafkaProducer

from core.records import DeadLetter, Example, RejectedExample
from streaming.intent_publish import IntentRequest, publish_intent
from streaming.kafka_clients import kafka_python_kwargs
from streaming.replay.runner import replay
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from streaming.sinks.reader import read_examples
from streaming.sinks.rejected import iter_rejected
from tests.conftest import REPO, WorkerProcess, settings_env
from tests.kafka_helpers import consume


def parquet_ids(root: Path) -> list[str]:
    if not root.exists():
        return []
    return (
        ds.dataset(str(root), format="parquet", partitioning="hive")
        .to_table(columns=["example_id"])
        .column("example_id")
        .to_pylist()
    )


def wait_rows(root: Path, n: int, timeout: float = 120) -> list[str]:
    deadline = time.monotonic() + timeout
    ids: list[str] = []
    while time.monotonic() < deadline:
        ids = parquet_ids(root)
        if len(ids) >= n:
            return ids
        time.sleep(0.5)
    return ids


def test_robot_intent_yields_grounded_examples_in_topic_and_parquet(
    settings: TailorSettings, worker: WorkerProcess, shared_dir: Path, tmp_path: Path
) -> None:
    publish_intent(settings, IntentRequest(text="next subtask data from my robot", domain="robot"))
    bridge = shared_dir / "data/robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001"
    replay(settings, ReplayConfig(paths=[bridge], rate=0, progress=False))
    msgs = consume(settings, settings.topic_examples, timeout_s=120, idle_s=6)
    examples = [Example.from_bytes(m.value) for m in msgs]
    assert len(examples) >= 10  # 16 of the 25 Bridge episodes have a next subtask (see docs/task_families.md)
    assert {e.task_family for e in examples} == {"next_subtask"}
    for e in examples:
        out = json.loads(e.output_json)
        assert e.window_id.startswith("robot:") and e.intent_id and e.source.topic == settings.topic_raw_robot
        assert e.anchor_ids and e.rewards["r_format"] == 1.0 and e.rewards["r_anchor"] == 1.0
        assert out  # schema-valid JSON
    root = settings.data_dir / "examples"
    ids = wait_rows(root, len({e.example_id for e in examples}))
    assert sorted(ids) == sorted({e.example_id for e in examples})
    assert worker.metric("tailor_examples_total", result="accepted") == len(examples)
    # the rows are self-contained (sink schema 3): the prompt, the intent's words, the cited anchors in full
    for stored in read_examples(root):
        assert stored.intent_text == "next subtask data from my robot"
        assert [a.anchor_id for a in stored.cited_anchors] == stored.anchor_ids
        assert stored.validators and stored.family_schema_sha256 and stored.anchor_set_sha256
        prompt = json.loads(stored.prompt_json or "[]")
        assert [m["role"] for m in prompt][0] == "system" and prompt[-1]["role"] == "user"
        # sink schema 4: the recording and its licence, stamped by replay, carried through the live worker
        assert stored.recording == bridge.name and (stored.licence or "").startswith("CC-BY-4.0")

    # the rejected topic, through the live worker's second sink stage, into the __rejected/ table: the worker's
    # own rejections, one candidate sent twice (a producer retry) and one unreadable record (a dead letter)
    refused = RejectedExample(
        example_id="e2e-refused",
        task_family="next_subtask",
        window_id=examples[0].window_id,
        reasons=["invalid_json"],
        raw_output="not json",
        source=examples[0].source,
        window_anchors=examples[0].window_anchors,
        created_at=time.time(),
    )
    producer = KafkaProducer(**kafka_python_kwargs(settings, settings.kafka_bootstrap))
    try:
        for value in (refused.to_bytes(), refused.to_bytes(), b"{not a record"):
            producer.send(settings.topic_rejected, key=b"e2e-refused", value=value).get(30)
    finally:
        producer.close()
    msgs = consume(settings, settings.topic_rejected, idle_s=1)
    [bad] = [m for m in msgs if m.value == b"{not a record"]
    want = sorted({RejectedExample.from_bytes(m.value).example_id for m in msgs if m is not bad})
    deadline = time.monotonic() + 30
    while sorted(got := [s.rejected.example_id for s in iter_rejected(root)]) != want:
        assert time.monotonic() < deadline, f"rejected table {sorted(got)} != topic {want}"
        time.sleep(0.5)
    assert len(list(iter_rejected(root))) == len(want) and "e2e-refused" in want
    stored = next(s.rejected for s in iter_rejected(root) if s.rejected.example_id == "e2e-refused")
    assert stored.source == examples[0].source and stored.window_anchors == examples[0].window_anchors
    letters = [DeadLetter.from_bytes(m.value) for m in consume(settings, settings.topic_dlq, idle_s=1)]
    assert [
        (d.stage, d.source_partition, d.source_offset)
        for d in letters
        if d.source_topic == settings.topic_rejected
    ] == [("parquet_rejected_sink", bad.partition, bad.offset)]
    assert sorted(e.example_id for e in read_examples(root)) == sorted(ids)  # the training rows: unchanged

    # export them for SFT with the CLI: prompts from the rows (no topic read for schema-3 rows)
    out = tmp_path / "sft.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "export", "--format", "sft", "--out", str(out)],
        env=settings_env(settings),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["example_id"] for r in rows) == sorted(ids)
    for r in rows:
        # system, the worked example as a previous exchange where the family has one, the window, the example
        assert [m["role"] for m in r["messages"]] in (
            ["system", "user", "assistant"],
            ["system", "user", "assistant", "user", "assistant"],
        )
        assert json.loads(r["messages"][-1]["content"])  # the example itself
        assert "Anchors" in r["messages"][-2]["content"] or "anchor" in r["messages"][-2]["content"].lower()


def test_no_duplicate_rows_across_a_worker_restart_and_a_replay(
    settings: TailorSettings, worker: WorkerProcess, shared_dir: Path, tmp_path: Path
) -> None:
    publish_intent(settings, IntentRequest(text="GUI long-horizon data", domain="gui"))
    gui = [shared_dir / "data/gui/aitw", shared_dir / "data/gui/mind2web"]
    replay(settings, ReplayConfig(paths=gui, rate=0, progress=False))
    root = settings.data_dir / "examples"
    first = consume(settings, settings.topic_examples, timeout_s=90, idle_s=5)
    assert first
    ids = wait_rows(root, len({m.key for m in first}))
    assert len(ids) == len(set(ids)) == len({m.key for m in first})
    # restart the worker (same data dir, same group), then replay the same recordings again under the
    # same keys: the windows get new numbers, but the first examples are never written twice
    worker.proc.terminate()
    worker.proc.wait(timeout=30)
    env = settings_env(settings.model_copy(update={"metrics_port": 0}))
    log = open(tmp_path / "worker2.log", "wb")  # noqa: SIM115 - the worker writes to it until the finally below
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up"], env=env, stdout=log, stderr=log, cwd=REPO
    )
    try:
        from core.records import DeadLetter
        from streaming.producer import TailorProducer

        assert settings.kafka_bootstrap
        with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as p:
            for msg in first:  # a producer retry re-sends the same examples
                p.send(Example.from_bytes(msg.value))
        replayed = replay(settings, ReplayConfig(paths=gui, rate=0, progress=False))
        letters = [
            DeadLetter.from_bytes(m.value)
            for m in consume(settings, settings.topic_dlq, count=replayed.published, timeout_s=60)
        ]
        assert [d.reason for d in letters] == ["late_event"] * replayed.published  # windows already closed
        time.sleep(4)
        after = parquet_ids(root)
        assert sorted(after) == sorted(ids), "replayed examples were written again"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
