"""What a window's outputs look like to a user, through one live worker (rules backend) on the real broker.

One worker and one replay serve the whole module: the intents are published first, then the UMI episode
(two 200-step windows with stalls, the second grasps, lifts and releases) and the 25 Bridge episodes (one
10-step window each, never stalling) are replayed once; each test checks one property of what came out.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from core.records import AnchorSet, DeadLetter, Example, FamilySkip
from streaming.intent_publish import IntentRequest, derived_id, publish_intent
from streaming.replay.runner import replay
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from streaming.sinks.layout import list_parts
from tests.conftest import (
    REPO,
    WorkerProcess,
    settings_env,
    start_worker_process,
    stop_worker_process,
    topic_env,
)
from tests.kafka_helpers import consume

WORLD_MODEL = "world model samples from my robot"
GENERATION = "video generation samples of the arm"  # the same family as WORLD_MODEL, in other words
RECOVERY = "robot failure recovery examples"
LATER = "next subtask data from my robot"  # published after the windows closed (tailor reprocess)
WINDOWS = 27  # 2 UMI + 25 Bridge


@dataclass
class Live:
    settings: TailorSettings
    worker: WorkerProcess
    anchors: list[AnchorSet]
    examples: list[Example]


@pytest.fixture(scope="module")
def live(kafka_bootstrap: str, shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("window_outputs")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    overrides = {k.removeprefix("TAILOR_").lower(): v for k, v in topic_env(prefix).items()}
    settings = TailorSettings(
        kafka_bootstrap=kafka_bootstrap,
        app_id=f"{prefix}-app",
        data_dir=tmp / "data",
        partitions=2,
        window_grace_s=0.5,
        window_gap_s=2.0,
        window_sweep_interval_s=0.5,
        synth_backend="rules",
        synth_batch_window_s=0.3,
        sink_flush_s=0.5,
        **overrides,
    )
    worker = start_worker_process(settings, tmp / "worker.log")
    try:
        for text in (WORLD_MODEL, GENERATION, RECOVERY):
            publish_intent(settings, IntentRequest(text=text, domain="robot"))
        robot = shared_dir / "data/robot"
        umi, bridge = (
            robot / "umi_cup_in_the_wild",
            robot / "bridge/bridge_dataset-train.tfrecord-00000-of-00001",
        )
        replay(settings, ReplayConfig(paths=[umi, bridge], kind="robot", rate=0, progress=False))
        anchors = [
            AnchorSet.from_bytes(m.value)
            for m in consume(settings, settings.topic_anchors, count=WINDOWS, timeout_s=120)
        ]
        examples = [
            Example.from_bytes(m.value)
            for m in consume(settings, settings.topic_examples, timeout_s=60, idle_s=5)
        ]
        yield Live(settings, worker, anchors, examples)
    finally:
        stop_worker_process(worker)


def cli(settings: TailorSettings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=settings_env(settings),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def parquet_rows(root: Path, n: int, timeout: float = 60) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        # the examples table's part files only (not the __rejected/ table beside them)
        rows = [r for p in list_parts(root) for r in pq.read_table(p.path, partitioning=None).to_pylist()]
        if len(rows) >= n:
            break
        time.sleep(0.5)
    return rows


def test_world_model_rows_carry_every_frame_they_cite(live: Live) -> None:
    samples = [e for e in live.examples if e.task_family == "world_model_sample"]
    assert len(samples) == WINDOWS  # one per window
    rows = parquet_rows(live.settings.data_dir / "examples", len(live.examples))
    by_id = {r["example_id"]: r for r in rows}
    for ex in samples:
        out = json.loads(ex.output_json)
        cited = {*out["segment"], *out["frames"], *(s["frame"] for s in out["motion_plan"])}
        row = by_id[ex.example_id]
        refs = row["frame_refs"]
        assert isinstance(refs, list) and {f["frame_index"] for f in refs} == cited, ex.window_id
        assert all(f["embedded"] for f in refs) and len(row["frames"]) == len(cited)  # type: ignore[arg-type]
    # the stored frames a sample cites beyond the window's key frames are marked as such
    roles = {k.role for a in live.anchors for k in a.key_frames}
    assert roles == {"key_frame", "cited"}


def test_a_family_that_makes_nothing_of_a_window_says_why(live: Live) -> None:
    # the recovery intent: the UMI windows stall (examples), the Bridge episodes never do (noted skips)
    stalled = {a.window_id for a in live.anchors if any(x.type == "stall" for x in a.anchors)}
    calm = {a.window_id for a in live.anchors} - stalled
    assert len(stalled) == 2 and len(calm) == 25
    assert {e.window_id for e in live.examples if e.task_family == "robot_fault_recovery"} == stalled
    s = live.settings
    notes = [FamilySkip.from_bytes(m.value) for m in consume(s, s.topic_skips, timeout_s=30, idle_s=2)]
    recovery = [n for n in notes if n.task_family == "robot_fault_recovery"]
    want = derived_id(IntentRequest(text=RECOVERY, domain="robot"))
    assert {n.window_id for n in recovery} == calm and len(recovery) == len(calm)
    assert {(n.reason, tuple(n.intent_ids)) for n in recovery} == {("no_stall", (want,))}
    metric = live.worker.metric
    assert metric("tailor_family_skips_total", task_family="robot_fault_recovery", reason="no_stall") == 25
    out = cli(s, "status")
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if "robot_fault_recovery" in x)
    assert "no_stall" in line and want in line


def test_tailor_anchors_shows_a_windows_anchors_and_key_frames(live: Live) -> None:
    umi = sorted((a for a in live.anchors if a.num_frames == 200), key=lambda a: a.window_id)
    out = cli(live.settings, "anchors", "--stream", umi[0].key)
    assert out.returncode == 0, out.stderr
    assert all(a.window_id in out.stdout for a in umi) and out.stdout.count("Anchors") == 2
    one = cli(live.settings, "anchors", "--window", umi[1].window_id)
    assert one.returncode == 0, one.stderr
    assert umi[1].window_id in one.stdout and umi[0].window_id not in one.stdout
    for x in umi[1].anchors:  # every anchor, by id
        assert x.anchor_id in one.stdout
    frames = one.stdout.split("Key frames", 1)[1]
    rows = [line.split("│")[1:4] for line in frames.splitlines() if line.count("│") >= 4]
    assert [(int(f), r.strip()) for f, _t, r in rows] == [(k.frame_index, k.role) for k in umi[1].key_frames]
    summary = cli(live.settings, "anchors")
    assert summary.returncode == 0 and all(a.window_id in summary.stdout for a in live.anchors)
    missing = cli(live.settings, "anchors", "--window", "robot:nothing:0")
    assert missing.returncode == 1 and "no window" in missing.stderr


def test_intents_that_map_to_one_family_share_one_example(live: Live) -> None:
    asked = {derived_id(IntentRequest(text=t, domain="robot")) for t in (WORLD_MODEL, GENERATION)}
    samples = [e for e in live.examples if e.task_family == "world_model_sample"]
    # one example per window, not one per intent, naming both intents
    assert len(samples) == len({e.window_id for e in samples}) == WINDOWS
    assert all(set(e.intent_ids) == asked and e.intent_id in asked for e in samples)
    rows = parquet_rows(live.settings.data_dir / "examples", len(live.examples))
    wm = [r for r in rows if r["task_family"] == "world_model_sample"]
    assert len(wm) == WINDOWS and all(set(r["intent_ids"]) == asked for r in wm)  # type: ignore[arg-type]
    assert (
        live.worker.metric("tailor_examples_total", task_family="world_model_sample", result="merged")
        == WINDOWS
    )
    # an export filtered by either intent finds them
    for intent in asked:
        out = cli(
            live.settings,
            "export",
            "--format",
            "sft",
            "--family",
            "world_model_sample",
            "--intent",
            intent,
            "--out",
            str(live.settings.data_dir / f"{intent}.jsonl"),
        )
        assert out.returncode == 0, out.stderr
        assert len((live.settings.data_dir / f"{intent}.jsonl").read_text().splitlines()) == WINDOWS


def test_new_intents_apply_to_stored_windows_with_tailor_reprocess(live: Live, shared_dir: Path) -> None:
    """Runs last: it publishes an intent and replays Bridge again."""
    s = live.settings
    bridge = shared_dir / "data/robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001"
    # replaying a recording again does not window it again: late events, labelled with the user's stage name
    again = replay(s, ReplayConfig(paths=[bridge], kind="robot", rate=0, progress=False))
    letters = [
        DeadLetter.from_bytes(m.value) for m in consume(s, s.topic_dlq, count=again.published, timeout_s=60)
    ]
    assert len(letters) == again.published == 250
    assert {(d.reason, d.stage) for d in letters} == {("late_event", "window_robot")}
    assert "tailor reprocess" in letters[0].detail
    # a new intent reaches the stored windows through tailor reprocess, and the worker's sink writes them
    publish_intent(s, IntentRequest(text=LATER, domain="robot"))
    later = derived_id(IntentRequest(text=LATER, domain="robot"))
    out = cli(s, "reprocess", "--intent", later)
    assert out.returncode == 0, out.stderr
    assert f"reprocessed {WINDOWS} window(s) for {later}" in out.stdout
    made = [Example.from_bytes(m.value) for m in consume(s, s.topic_examples, timeout_s=30, idle_s=3)]
    subtasks = [e for e in made if e.task_family == "next_subtask"]
    assert len(subtasks) >= 12 and {tuple(e.intent_ids) for e in subtasks} == {(later,)}
    assert {e.window_id for e in subtasks} <= {a.window_id for a in live.anchors}
    rows = parquet_rows(s.data_dir / "examples", len(live.examples) + len(subtasks))
    assert sorted(r["example_id"] for r in rows if r["task_family"] == "next_subtask") == sorted(
        e.example_id for e in subtasks
    )
    # only the new intent ran: nothing else was published again
    assert len(made) == len(live.examples) + len(subtasks)
