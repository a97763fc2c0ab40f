"""Many workers in one consumer group: three `tailor up` processes on 12 partitions take robot, GUI and video
streams replayed live; a fourth joins mid-stream and one is killed with SIGKILL. Checked against the
examples the rules backend makes of the anchors topic in one process (`rules_examples`): every window's
examples are in the Parquet dataset exactly once and on the examples topic (at least once, copies identical
but for their creation time); every raw record is in exactly one complete window; window state moved with
its partitions (the new owners recovered it from the changelog, and windows opened on the killed worker
were closed by others, complete); and the group's lag drains to zero."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from pathlib import Path

import pytest

from app.demo_wait import pipeline_lag
from core.records import AnchorSet, Example
from streaming.intent_publish import IntentRequest, publish_intent
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from tests.conftest import WorkerProcess
from tests.streaming.crash_helpers import (
    ReplayThread,
    fresh_settings,
    kill_group,
    letters_on_topic,
    metric_or_zero,
    read_raw,
    start_worker,
    stop_worker,
    wait_until,
)
from tests.streaming.group_helpers import (
    covers,
    log_lines,
    owned,
    recoveries,
    rules_examples,
    start_workers,
)
from tests.streaming.test_crash_recovery import parquet_ids

log = logging.getLogger(__name__)

PARTITIONS = 12
RATE = 1.0  # live: Bridge is 25 s of episodes back to back, the UMI video 40 s (10 s video windows)
INTENTS = (
    IntentRequest(text="next subtask data from my robot", domain="robot"),
    IntentRequest(text="GUI long-horizon data", domain="gui"),
    IntentRequest(text="training data from my camera videos", domain="video"),
)


def inputs(shared: Path) -> list[Path]:
    return [
        shared / "data/robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001",
        shared / "data/gui/aitw",
        shared / "data/gui/mind2web",
        shared / "data/robot/umi_cup_in_the_wild/videos/observation.image_episode_000000.mp4",
    ]


def without_timing(raw: bytes) -> dict[str, object]:
    doc = json.loads(raw)
    doc.pop("created_at")
    return doc


def differing(values: list[bytes]) -> dict[str, list[object]]:
    """The fields (but created_at) in which copies of one record differ, with each copy's value."""
    docs = [without_timing(v) for v in values]
    return {k: [d.get(k) for d in docs] for k in docs[0] if any(d.get(k) != docs[0][k] for d in docs)}


def accepted(workers: list[WorkerProcess]) -> float:
    return sum(metric_or_zero(w, "tailor_examples_total", result="accepted") for w in workers)


def out_total(workers: list[WorkerProcess]) -> float:
    return sum(metric_or_zero(w, "tailor_records_out_total") for w in workers)


def settle(workers: list[WorkerProcess], settings: TailorSettings, timeout_s: float) -> None:
    """Until no window is open anywhere, the group's lag on every consumed topic is zero and nothing was
    produced between two such checks 2 s apart."""
    last: float | None = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        quiet = not any(metric_or_zero(w, "tailor_open_windows") for w in workers)
        if quiet and pipeline_lag(settings) == 0:
            now = out_total(workers)
            if last == now:
                return
            last = now
        else:
            last = None
        time.sleep(2.0)
    raise AssertionError(f"the group never settled; lag {pipeline_lag(settings)}")


@pytest.mark.slow
def test_a_growing_group_with_a_killed_worker_makes_every_example_once(
    settings: TailorSettings, shared_dir: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    s = fresh_settings(settings, tmp_path).model_copy(
        update={"partitions": PARTITIONS, "ocr_enabled": False, "lag_interval_s": 1.0}
    )
    raw_topics = (s.topic_raw_robot, s.topic_raw_gui, s.topic_raw_video)
    for req in INTENTS:
        publish_intent(s, req)
    workers = start_workers(s, ("w1", "w2", "w3"), tmp_path)
    replaying = ReplayThread(s, ReplayConfig(paths=inputs(shared_dir), rate=RATE, progress=False))
    victim: WorkerProcess | None = None
    try:
        assert wait_until(lambda: covers(workers, s.topic_raw_robot, PARTITIONS), 60), "3 workers never split"
        group_s = time.monotonic() - started
        replaying.start()
        assert wait_until(lambda: accepted(workers) >= 1, 60, 0.2)
        workers.append(start_worker(s.model_copy(update={"worker_id": "w4"}), tmp_path / "w4.log"))
        assert wait_until(lambda: covers(workers, s.topic_raw_robot, PARTITIONS), 60), (
            "w4 never got partitions"
        )
        joined_s = time.monotonic() - started

        # the victim owns the video stream's partition, so a 10 s video window is open on it when it dies
        video_partition = read_raw(s, s.topic_raw_video)[0].partition
        victim = next(w for w in workers if video_partition in owned(w, s.topic_raw_video))
        assert wait_until(lambda: metric_or_zero(victim, "tailor_open_windows") > 0, 15, 0.1)
        victim_parts = set().union(*(owned(victim, t) for t in raw_topics))
        assert victim_parts == owned(victim, s.topic_raw_robot), "raw topics are not co-partitioned"
        kill_group(victim)
        killed_at = time.time()
        killed_s = time.monotonic() - started
        assert replaying.is_alive(), "the input was over before the kill: nothing was in flight"
        survivors = [w for w in workers if w is not victim]

        records_in = replaying.finish(120).published
        assert wait_until(lambda: covers(survivors, s.topic_raw_robot, PARTITIONS), 60), "no takeover"
        settle(survivors, s, 90)
        settled_s = time.monotonic() - started
        assert pipeline_lag(s) == 0  # the lag drained on every consumed topic
        # every worker took part: the three first ones and the one that joined
        assert all(metric_or_zero(w, "tailor_records_in_total", topic=s.topic_raw_robot) for w in survivors)
        survivor_recoveries = [r for w in survivors for r in recoveries(w)]
        joined_recoveries = recoveries(workers[3])
    finally:
        for w in workers:
            stop_worker(w) if w is not victim else kill_group(w)

    # every raw record is in exactly one window (or dead-lettered), and windows are complete
    raw = {t: {(m.partition, m.offset): m.timestamp for m in read_raw(s, t)} for t in raw_topics}
    assert records_in == sum(len(v) for v in raw.values())
    anchor_msgs = read_raw(s, s.topic_anchors)
    windows: dict[str, list[tuple[AnchorSet, bytes, int]]] = defaultdict(list)
    for m in anchor_msgs:
        a = AnchorSet.from_bytes(m.value)
        windows[a.window_id].append((a, m.value, m.timestamp))
    for window_id, copies in windows.items():
        assert not differing([v for _a, v, _t in copies]), window_id
    letters = letters_on_topic(s)
    assert letters == [], [(d.reason, d.detail) for d in letters]
    firsts = [c[0][0] for c in windows.values()]
    steps = [a for a in firsts if a.domain != "video"]  # num_frames counts steps; a video window's, frames
    assert sum(a.num_frames for a in steps) == len(raw[s.topic_raw_robot]) + len(raw[s.topic_raw_gui])
    segments = sorted(
        o for a in firsts if a.domain == "video" for o in range(a.span.first_offset, a.span.last_offset + 1)
    )
    assert segments == sorted(o for _p, o in raw[s.topic_raw_video])  # one stream: each segment in one window
    robot = [a for a in firsts if a.domain == "robot"]
    split = {a.key for a in robot if a.num_frames != 10}  # one whole window per episode
    assert len(robot) == 25 and not split, log_lines(workers, split or {"robot:"})
    assert {a.domain for a in firsts} == {"robot", "gui", "video"}

    # window state moved with its partitions: the joiner recovered state that others had written, the
    # survivors recovered the victim's partitions after the kill, and windows the victim had open (first
    # record before the kill, on its partitions) were closed after it by the others, with every record
    assert any(r.changes > 0 for r in joined_recoveries), joined_recoveries
    taken = [r for r in survivor_recoveries if r.at >= killed_at - 1 and r.partitions & victim_parts]
    assert any(r.changes > 0 for r in taken), (victim_parts, survivor_recoveries)
    moved = [
        a
        for a, _v, ts in (c[0] for c in windows.values())
        if a.span.partition in victim_parts
        and raw[a.span.topic][(a.span.partition, a.span.first_offset)] < killed_at * 1000
        and ts > killed_at * 1000
    ]
    assert moved, "no window open on the killed worker was closed by another"

    # the examples: exactly what the anchors topic makes, once each in Parquet
    accepted_ids, rejected_ids = rules_examples(s)
    on_topic = [(Example.from_bytes(m.value), m.value) for m in read_raw(s, s.topic_examples)]
    copies: dict[str, list[bytes]] = defaultdict(list)
    for example, value in on_topic:
        copies[example.example_id].append(value)
    assert set(copies) == accepted_ids
    for ex_id, values in copies.items():
        assert not differing(values), f"copies of {ex_id} differ: {differing(values)}"
    assert {Example.from_bytes(m.value).example_id for m in read_raw(s, s.topic_rejected)} == rejected_ids
    assert {e.window_id.split(":")[0] for e, _v in on_topic} == {"robot", "gui", "video"}
    assert wait_until(lambda: len(parquet_ids(s)) >= len(accepted_ids), 30)
    rows = parquet_ids(s)
    assert sorted(rows) == sorted(accepted_ids)  # exactly once

    log.warning(
        "many workers: %d records in, %d windows (%d anchored twice), %d dead letters, %d examples "
        "(%d copies on the topic), %d rejected, %d Parquet rows; victim owned partitions %s, %d of its "
        "windows closed by others; group of 3 at %.1fs, w4 in at %.1fs, kill at %.1fs, settled at %.1fs; "
        "test %.1fs",
        records_in,
        len(windows),
        sum(1 for c in windows.values() if len(c) > 1),
        len(letters),
        len(accepted_ids),
        len(on_topic),
        len(rejected_ids),
        len(rows),
        sorted(victim_parts),
        len(moved),
        group_s,
        joined_s,
        killed_s,
        settled_s,
        time.monotonic() - started,
    )
