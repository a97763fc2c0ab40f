"""Crash recovery: SIGKILL a worker while windows are in flight, restart it, and compare with an
uninterrupted run of the same input: every example id appears, exactly once in Parquet, and the copies
on the examples topic are identical except for their creation time (so dedupe by id is exact).

A family whose prompt shows other sessions' windows (gui_task_reconstruction's distractors) is compared by
window, family and intent, once each: its distractors are the windows before it on the anchors topic, and
windows of two streams that close in the same instant reach the topic in either order in two independent
runs. Within one run a redelivered window gets the same distractors (streaming/distractors.py)."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from pathlib import Path

import pyarrow.dataset as ds

from core.records import Example
from streaming.intent_publish import IntentRequest, publish_intent
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from tests.conftest import WorkerProcess
from tests.streaming.crash_helpers import (
    ReplayThread,
    anchors_on_topic,
    examples_on_topic,
    fresh_settings,
    kill_group,
    letters_on_topic,
    metric_or_zero,
    start_worker,
    stop_worker,
    wait_until,
)

log = logging.getLogger(__name__)

CROSS_WINDOW = {"gui_task_reconstruction"}


def ident(example: Example) -> str | tuple[str, str, str | None]:
    if example.task_family in CROSS_WINDOW:
        return (example.window_id, example.task_family, example.intent_id)
    return example.example_id


RATE = 1.0  # Bridge is 25 episodes x 1 s back to back: 25 s of live stream, windows closing all along
INTENTS = (
    IntentRequest(text="next subtask data from my robot", domain="robot"),
    IntentRequest(text="GUI long-horizon data", domain="gui"),
)


def inputs(shared: Path) -> list[Path]:
    return [
        shared / "data/robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001",
        shared / "data/gui/aitw",
        shared / "data/gui/mind2web",
    ]


def parquet_ids(settings: TailorSettings) -> list[str]:
    root = settings.data_dir / "examples"
    if not root.exists():
        return []
    table = ds.dataset(str(root), format="parquet", partitioning="hive").to_table(columns=["example_id"])
    return [str(x) for x in table.column("example_id").to_pylist()]


def progress(wp: WorkerProcess, settings: TailorSettings, whole_run: bool) -> tuple[float, ...] | None:
    """The worker's progress counters, or None while a window is open (or, for a worker that saw the whole
    run, while an anchor set it emitted is not synthesised yet)."""
    if metric_or_zero(wp, "tailor_open_windows"):
        return None
    out = metric_or_zero(wp, "tailor_records_out_total", topic=settings.topic_anchors)
    seen = metric_or_zero(wp, "tailor_records_in_total", topic=settings.topic_anchors)
    if whole_run and out != seen:
        return None
    return (
        out,
        seen,
        metric_or_zero(wp, "tailor_examples_total"),
        metric_or_zero(wp, "tailor_records_in_total"),
    )


def wait_idle(
    wp: WorkerProcess, settings: TailorSettings, quiet_s: float, timeout_s: float, whole_run: bool = True
) -> None:
    """Until the worker's counters stood still for `quiet_s` with no window open."""
    last: tuple[float, ...] | None = None
    since = time.monotonic()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = progress(wp, settings, whole_run)
        if now is None or now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.5)
    raise AssertionError(f"worker never settled:\n{wp.log()[-3000:]}")


def without_timing(raw: bytes) -> dict[str, object]:
    doc = json.loads(raw)
    doc.pop("created_at")
    return doc


def test_sigkill_mid_stream_then_restart_loses_and_duplicates_nothing(
    settings: TailorSettings, shared_dir: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    paths = inputs(shared_dir)

    # the reference: the same input through a worker that is never interrupted
    ref = fresh_settings(settings, tmp_path)
    wp = start_worker(ref, tmp_path / "reference.log")
    try:
        for req in INTENTS:
            publish_intent(ref, req)
        ref_replayed = ReplayThread(ref, ReplayConfig(paths=paths, rate=RATE, progress=False))
        ref_replayed.start()
        ref_in = ref_replayed.finish(120).published
        wait_idle(wp, ref, quiet_s=4, timeout_s=90)
    finally:
        stop_worker(wp)
    reference = {ident(e) for e, _raw in examples_on_topic(ref)}
    assert len(reference) >= 10
    ref_seconds = time.monotonic() - started

    # the same input; the worker is killed with SIGKILL once some examples are out, then restarted
    run = fresh_settings(settings, tmp_path)
    first = start_worker(run, tmp_path / "worker.log")
    replaying = ReplayThread(run, ReplayConfig(paths=paths, rate=RATE, progress=False))
    second: WorkerProcess | None = None
    try:
        for req in INTENTS:
            publish_intent(run, req)
        replaying.start()
        assert wait_until(
            lambda: metric_or_zero(first, "tailor_examples_total", result="accepted") >= 2, 60, 0.1
        )
        before_kill = metric_or_zero(first, "tailor_examples_total", result="accepted")
        kill_group(first)
        killed_at = time.monotonic()
        assert replaying.is_alive(), "the input was over before the kill: nothing was in flight"
        assert 0 < before_kill < len(reference)
        second = start_worker(run, tmp_path / "worker.log")
        records_in = replaying.finish(120).published
        assert records_in == ref_in
        assert wait_until(lambda: {ident(e) for e, _r in examples_on_topic(run)} >= reference, 120, 1.0), (
            f"examples missing after the restart:\n{second.log()[-3000:]}"
        )
        wait_idle(second, run, quiet_s=4, timeout_s=60, whole_run=False)
        recovered_s = time.monotonic() - killed_at
    finally:
        if second is not None:
            stop_worker(second)
        kill_group(first)

    on_topic = examples_on_topic(run)
    copies: dict[str, list[bytes]] = defaultdict(list)
    for example, raw in on_topic:
        copies[example.example_id].append(raw)
    # the same examples as the uninterrupted run: nothing lost, nothing extra, one example id per identity
    idents = {example.example_id: ident(example) for example, _raw in on_topic}
    assert set(idents.values()) == reference
    assert len(idents) == len(reference)
    # at-least-once on the topic; every copy of one id is the same example but for its creation time
    for ex_id, raws in copies.items():
        assert all(without_timing(r) == without_timing(raws[0]) for r in raws), f"copies of {ex_id} differ"
    # exactly once in the Parquet dataset
    assert wait_until(lambda: len(parquet_ids(run)) >= len(copies), 30)
    rows = parquet_ids(run)
    assert sorted(rows) == sorted(copies)

    # every input record is accounted for: in a window that was anchored, or dead-lettered
    anchor_sets = {a.window_id: a for a in anchors_on_topic(run)}
    letters = letters_on_topic(run)
    in_windows = sum(a.num_frames for a in anchor_sets.values())
    raw_letters = [d for d in letters if d.source_topic in (run.topic_raw_robot, run.topic_raw_gui)]
    assert records_in == in_windows + len(raw_letters), (records_in, in_windows, [d.reason for d in letters])
    duplicates = len(on_topic) - len(copies)
    log.warning(
        "crash recovery: %d records in, %d windows, %d dead letters, %d examples (%d accepted before the "
        "kill), %d duplicate copies on the topic, %d Parquet rows; settled %.1fs after the kill; "
        "reference run %.1fs; test %.1fs",
        records_in,
        len(anchor_sets),
        len(letters),
        len(copies),
        before_kill,
        duplicates,
        len(rows),
        recovered_s,
        ref_seconds,
        time.monotonic() - started,
    )
