"""Poison windows: decoding runs in bounded decoder processes, and a window that killed its decoder (out of
memory, killed, past its time) is dead-lettered, the worker keeps going, and a restart does not decode it
again (issue 20, item 4)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from agents.anchoring_pool import AnchoringPool, DecoderKilled
from agents.anchoring_pool_config import AnchoringPoolConfig
from agents.anchoring_video import VideoAnchoring
from core.blobstore import BlobStore
from core.dlq import SourcePosition
from core.limits_config import LimitsConfig
from core.metrics import TailorMetrics
from core.records import AnchorSet, DeadLetter, MediaRef, VideoSegment
from core.window import ClosedWindow
from streaming.anchor_emitter import AnchorEmitter
from streaming.decode_ledger import DecodeLedger, ledger_key
from streaming.stage import DeadLetterSink
from streaming.window_state import ChangeLog, WindowState
from streaming.windows import VideoKeys, Windower
from streaming.windows_config import WindowsConfig
from tests.media_helpers import mjpeg_mkv_bytes, mp4_bytes

TOPIC = "tailor.raw.video"


class ListChangeLog(ChangeLog):
    def __init__(self) -> None:
        self.entries: list[tuple[int, bytes, bytes | None]] = []

    def record(self, partition: int, key: bytes, value: bytes | None) -> None:
        self.entries.append((partition, key, value))


class Letters(DeadLetterSink):
    """Dead letters, each with the changelog as it stood when it was sent (what a restart would recover)."""

    def __init__(self, changelog: ListChangeLog) -> None:
        self.changelog = changelog
        self.sent: list[DeadLetter] = []
        self.durable: list[list[tuple[int, bytes, bytes | None]]] = []

    async def send(self, letter: DeadLetter) -> None:
        self.sent.append(letter)
        self.durable.append(list(self.changelog.entries))


class Media:
    def __init__(self, blobs: BlobStore) -> None:
        self.small = blobs.put(mp4_bytes(frames=20), "video/mp4")  # 64x48: a few MiB to decode
        self.large = blobs.put(mjpeg_mkv_bytes(), "video/x-matroska")  # two 3840x2160 frames


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> BlobStore:
    return BlobStore.for_dir(tmp_path_factory.mktemp("poison") / "blobs")


@pytest.fixture(scope="module")
def media(blobs: BlobStore) -> Media:
    return Media(blobs)


def segment(stream: str, seq: int, ref: MediaRef) -> VideoSegment:
    return VideoSegment(
        stream_id=stream, seq=seq, start_time=2.0 * seq, duration_s=2.0, event_time=0.0, media=ref
    )


def window(stream: str, ref: MediaRef, segments: int = 1) -> ClosedWindow:
    records = [segment(stream, i, ref) for i in range(segments)]
    return ClosedWindow("video", stream, 0, TOPIC, 0, 0, segments - 1, records)


def vm_peak(pid: int) -> int:
    """The process's largest address space so far (VmPeak): a small window's decode at its height, decoder
    threads' stacks and a re-decode of cited frames included (the size after it leaves those out)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmPeak:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmPeak")


def tight_limit_mb(anchoring: VideoAnchoring, media: Media) -> int:
    """A decoder's peak address space on a small window, plus 24 MiB: room for 64x48 frames, not for 4K."""
    probe = AnchoringPool({"video": anchoring}, AnchoringPoolConfig(window_decode_processes=1))
    try:
        probe.facts(window("probe", media.small), 30.0)
        (pid,) = probe.pids()
        return vm_peak(pid) // 2**20 + 24
    finally:
        probe.close()


class Worker:
    """One worker's video windower and anchor stage over a state map (a restart: a new one over the same map)."""

    def __init__(
        self, blobs: BlobStore, anchoring: VideoAnchoring, memory_mb: int, state: dict[bytes, bytes]
    ):
        self.changelog = ListChangeLog()
        self.state = WindowState(state, self.changelog)
        self.letters = Letters(self.changelog)
        self.sent: list[AnchorSet] = []
        self.pool = AnchoringPool(
            {"video": anchoring},
            AnchoringPoolConfig(window_decode_processes=1, window_decode_memory_mb=memory_mb),
        )
        metrics = TailorMetrics(CollectorRegistry())
        emitter = AnchorEmitter(
            anchoring,
            blobs,  # key frames beside the media: one store is enough here
            self.send,
            self.letters,
            metrics,
            timeout_s=30.0,
            max_key_frames=4,
            worker_id="w0",
            pool=self.pool,
            ledger=DecodeLedger(self.state, max_attempts=2),
        )
        self.windower = Windower(VideoKeys(), self.state, emitter, WindowsConfig(), blobs, metrics)

    async def send(self, anchors: AnchorSet) -> None:
        self.sent.append(anchors)

    async def stream(self, stream: str, ref: MediaRef, first_offset: int) -> None:
        for seq in range(2):
            await self.windower.handle(
                segment(stream, seq, ref), SourcePosition(TOPIC, 0, first_offset + seq)
            )
        await self.windower.close_window(stream, "final")
        await self.windower.drain()


def test_a_window_over_the_decoder_memory_limit_is_dead_lettered_once_and_remembered(
    blobs: BlobStore, media: Media
) -> None:
    anchoring = VideoAnchoring(blobs, LimitsConfig(), ocr=False)
    limit = tight_limit_mb(anchoring, media)
    first = Worker(blobs, anchoring, limit, {})
    asyncio.run(first.stream("bomb", media.large, 0))
    (letter,) = first.letters.sent
    assert (letter.stage, letter.reason) == ("anchors_video", "decoder_out_of_memory"), letter
    assert letter.source_offset == 0 and letter.payload == b"video:bomb:0"
    asyncio.run(first.stream("fine", media.small, 10))  # the worker (and its pool) goes on
    assert [a.window_id for a in first.sent] == ["video:fine:0"] and len(first.letters.sent) == 1
    assert not any(k.startswith(b"d|") for k in first.state.data)  # settled with the window's items
    first.pool.close()

    # the worker dies right after the dead letter, before the window's items are deleted: a restart
    # recovers the state of that moment from the changelog and closes the window again
    recovered: dict[bytes, bytes] = {}
    for _partition, k, v in first.letters.durable[0]:
        if v is None:
            recovered.pop(k, None)
        else:
            recovered[k] = v
    assert ledger_key("video:bomb:0") in recovered
    again = Worker(blobs, anchoring, 4096, recovered)
    assert asyncio.run(again.windower.recover()) == 1
    asyncio.run(again.windower.drain())
    (letter,) = again.letters.sent
    assert (letter.reason, letter.payload) == ("poison_window", b"video:bomb:0"), letter
    assert "decoder_out_of_memory" in letter.detail
    assert (again.pool.started, again.pool.windows) == (0, 0)  # not decoded again
    assert not again.state.keys_with_items("video") and ledger_key("video:bomb:0") not in recovered


def test_a_window_whose_worker_died_while_decoding_is_poison_after_the_attempts() -> None:
    state = WindowState({}, ListChangeLog())
    ledger = DecodeLedger(state, max_attempts=2)
    w = window("cam", MediaRef.inline(b"x", "video/mp4"))
    assert ledger.begin(w) is None and ledger.begin(w) is None  # two starts, each ended by the worker's death
    assert "2 decoding attempts" in (ledger.begin(w) or "")
    ledger.finished(w)  # an outcome starts the count afresh
    assert ledger.begin(w) is None


def test_a_decoder_past_its_time_or_killed_is_stopped_and_replaced(blobs: BlobStore, media: Media) -> None:
    anchoring = VideoAnchoring(blobs, LimitsConfig(), ocr=False)
    pool = AnchoringPool({"video": anchoring}, AnchoringPoolConfig(window_decode_processes=1))
    slow = window("slow", media.large, segments=30)  # sixty 4K frames joined: seconds to decode
    try:
        pool.facts(window("warm", media.small), 30.0)
        (pid,) = pool.pids()
        started = time.perf_counter()
        with pytest.raises(DecoderKilled) as info:
            pool.facts(slow, 0.05)
        assert info.value.reason == "extract_timeout"
        assert time.perf_counter() - started < 1.0
        assert not Path(f"/proc/{pid}").exists()  # killed and reaped: no decoding goes on behind our back
        facts, _ = pool.facts(window("next", media.small), 30.0)
        assert facts.num_frames == 20
        (pid,) = pool.pids()
        # the kernel's OOM killer (or a libav crash) ends the decoder in the middle of a window
        killer = threading.Timer(0.1, os.kill, (pid, signal.SIGKILL))
        killer.start()
        with pytest.raises(DecoderKilled) as info:
            pool.facts(slow, 30.0)
        assert info.value.reason == "decoder_crashed" and "-9" in info.value.detail
        assert pool.facts(window("after", media.small), 30.0)[0].num_frames == 20
        (pid,) = pool.pids()
        os.kill(pid, signal.SIGKILL)  # and one killed while idle: the next window gets a fresh decoder
        assert pool.facts(window("idle", media.small), 30.0)[0].num_frames == 20
        assert pool.started == 4
    finally:
        pool.close()
