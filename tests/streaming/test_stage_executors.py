"""Each stage's blocking work runs on its own bounded pool: one stage whose work blocks (a stalled read,
a timeout that left its thread behind) does not delay another stage's work (issue 20, item 5)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from core.blobstore import BlobStore
from core.dlq import SourcePosition
from core.metrics import TailorMetrics
from core.records import MediaRef, RobotStep
from core.window import ClosedWindow
from streaming import executors
from streaming.window_state import ChangeLog, WindowState
from streaming.windows import RobotKeys, WindowCloser, Windower
from streaming.windows_config import WindowsConfig
from tests.media_helpers import jpeg_bytes


class NoChangeLog(ChangeLog):
    def record(self, partition: int, key: bytes, value: bytes | None) -> None:
        pass


class Keep(WindowCloser):
    async def close(self, window: ClosedWindow) -> None:
        pass


def test_a_stage_whose_work_blocks_does_not_delay_another_stage(tmp_path: Path) -> None:
    blobs = BlobStore.for_dir(tmp_path / "blobs")
    windower = Windower(
        RobotKeys(),
        WindowState({}, NoChangeLog()),
        Keep(),
        WindowsConfig(),
        blobs,
        TailorMetrics(CollectorRegistry()),
    )
    step = RobotStep(
        episode_id="ep",
        step_index=0,
        timestamp=1.0,
        state=[0.0],
        cameras={"c": MediaRef.inline(jpeg_bytes(), "image/jpeg")},  # spilled to the blob store in a thread
    )

    async def run() -> tuple[float, int]:
        gate = threading.Event()
        loop = asyncio.get_running_loop()
        # the ingest stage's pool, and asyncio's default executor, full of work that blocks, with more queued
        stuck = [asyncio.ensure_future(executors.in_stage("ingest", gate.wait, 30)) for _ in range(12)]
        stuck += [loop.run_in_executor(None, gate.wait, 30) for _ in range(40)]
        await asyncio.sleep(0.05)
        try:
            started = time.perf_counter()
            await asyncio.wait_for(windower.handle(step, SourcePosition("raw.robot", 0, 0)), 10)
            spilled_s = time.perf_counter() - started
            blocked = sum(not f.done() for f in stuck)
        finally:
            gate.set()
            await asyncio.gather(*stuck)
        return spilled_s, blocked

    spilled_s, blocked = asyncio.run(run())
    assert blocked == 52  # the other stage's work was still blocked while this one's ran
    assert spilled_s < 2.0, spilled_s
    (entry,) = [v for k, v in windower.state.data.items() if k.startswith(b"i|")]
    assert b'"uri"' in entry and b'"data"' not in entry.replace(b'"data":null', b"")  # the media was spilled
