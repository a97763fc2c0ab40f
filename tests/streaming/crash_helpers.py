"""Helpers of the reliability tests: workers in their own process group, settings on fresh topics,
topic reads up to the fetch high-water marks, a replay running in a thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from core.ports import free_port
from core.records import AnchorSet, DeadLetter, Example
from streaming.replay.runner import ReplayResult, replay
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from streaming.topic_reader import read_messages_async
from tests.conftest import REPO, WorkerProcess, settings_env, topic_env


def fresh_settings(base: TailorSettings, root: Path) -> TailorSettings:
    """`base` on new topics, a new app id (consumer group) and its own data dir."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    topics = {k.removeprefix("TAILOR_").lower(): v for k, v in topic_env(prefix).items()}
    return base.model_copy(update={**topics, "app_id": f"{prefix}-app", "data_dir": root / prefix})


def start_worker(settings: TailorSettings, log_path: Path, timeout_s: float = 60.0) -> WorkerProcess:
    """`tailor up` as the leader of its own process group (so the whole group can be killed)."""
    port = free_port()
    env = settings_env(settings.model_copy(update={"metrics_port": port}))
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "up"],
            env=env,
            stdout=log,
            stderr=log,
            cwd=REPO,
            start_new_session=True,
        )
    wp = WorkerProcess(proc, port, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{wp.log()[-3000:]}")
        try:
            wp.metrics_text()
            return wp
        except OSError:
            time.sleep(0.2)
    kill_group(wp)
    raise RuntimeError("worker metrics never came up")


def kill_group(wp: WorkerProcess) -> None:
    """SIGKILL the worker's whole process group: no handler, no flush, no commit."""
    try:
        os.killpg(wp.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    wp.proc.wait(timeout=10)


def stop_worker(wp: WorkerProcess) -> None:
    if wp.proc.poll() is not None:
        return
    wp.proc.terminate()
    try:
        wp.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        kill_group(wp)


def metric_or_zero(wp: WorkerProcess, name: str, **labels: str) -> float:
    try:
        return wp.metric(name, **labels)
    except OSError:
        return 0.0


def read_raw(settings: TailorSettings, topic: str) -> list[Any]:
    """Every message of `topic` up to its fetch high-water marks (Tansu's end offsets are wrong)."""
    import asyncio

    return asyncio.run(read_messages_async(settings, topic, timeout_s=30))


def examples_on_topic(settings: TailorSettings) -> list[tuple[Example, bytes]]:
    return [(Example.from_bytes(m.value), m.value) for m in read_raw(settings, settings.topic_examples)]


def anchors_on_topic(settings: TailorSettings) -> list[AnchorSet]:
    return [AnchorSet.from_bytes(m.value) for m in read_raw(settings, settings.topic_anchors)]


def letters_on_topic(settings: TailorSettings) -> list[DeadLetter]:
    return [DeadLetter.from_bytes(m.value) for m in read_raw(settings, settings.topic_dlq)]


class ReplayThread(threading.Thread):
    """`replay()` in the background; `result` is set when it finished, `error` when it failed."""

    def __init__(self, settings: TailorSettings, config: ReplayConfig) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.config = config
        self.result: ReplayResult | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = replay(self.settings, self.config)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def finish(self, timeout_s: float) -> ReplayResult:
        self.join(timeout_s)
        assert not self.is_alive(), "replay did not finish in time"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def wait_until(cond: Any, timeout_s: float, interval_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(interval_s)
    return bool(cond())
