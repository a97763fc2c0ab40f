"""Closed windows anchored in a small pool of reused decoder processes, never in the worker itself.

Demuxers, decoders (libav, Pillow) and experts read bytes that other teams' producers wrote. Run in the
worker, one window that exhausts memory, crashes libav or hangs inside a codec takes the worker down, and
the recovery that closes the same window again takes it down again. Here each window runs in a child
process with an address-space limit (RLIMIT_AS); a child that runs past the window's time is killed
(SIGKILL: the work stops, no thread is left behind), and a child that dies or runs out of memory is
replaced. The worker sees a `DecoderKilled` with a reason and dead-letters the window.

Children start from the forkserver (a clean, single-threaded process that has imported the anchoring code
once), take the domains' `WindowAnchoring` objects once at start, and serve windows until
`window_decode_tasks_per_process`. The worker never unpickles what a child sends back: a child that a
crafted stream took over could otherwise run code in the worker. Results come back as JSON plus the
key-frame bytes, validated like any record.
"""

from __future__ import annotations

import ctypes
import json
import logging
import multiprocessing
import queue
import resource
import struct
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from agents.anchoring import KeyFrame, WindowAnchoring, WindowFacts
from agents.anchoring_pool_config import AnchoringPoolConfig
from agents.extractors.base import ExtractorError, budget_overruns
from core.records import Anchor, RecordError
from core.window import ClosedWindow

log = logging.getLogger(__name__)

POOL_NAME = "anchoring_pool"  # the `extractor` of the refusals below
_HEADER = struct.Struct("<I")
_TAKEN = b"taken"  # a child's first answer to a window: it is alive and decoding it
HAND_OVER_S = 30.0  # time for a child to take a window (a fresh one starts first: seconds on a busy machine)
_PRELOAD = ["agents.anchoring_video", "agents.anchoring_steps", "agents.anchoring_pool"]


class DecoderKilled(ExtractorError):
    """The window's decoder process ran out of memory, crashed or ran out of time, and was replaced."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(POOL_NAME, reason, detail)


def _encode(facts: WindowFacts, overruns: list[str]) -> bytes:
    frames = [asdict(k) | {"data": len(k.data)} for k in facts.key_frames]
    head = {
        "anchors": [a.model_dump(mode="json") for a in facts.anchors],
        "key_frames": frames,
        "num_frames": facts.num_frames,
        "start_time": facts.start_time,
        "end_time": facts.end_time,
        "instruction": facts.instruction,
        "overruns": overruns,
    }
    body = json.dumps({"ok": head}).encode()
    return _HEADER.pack(len(body)) + body + b"".join(k.data for k in facts.key_frames)


def _decode(message: bytes) -> tuple[WindowFacts, list[str]]:
    """The child's answer, parsed as untrusted data: JSON, pydantic models, byte counts checked."""
    (size,) = _HEADER.unpack_from(message)
    head = json.loads(message[_HEADER.size : _HEADER.size + size])
    if "error" in head:
        err = head["error"]
        if err["extractor"] == POOL_NAME and err["reason"] == "decoder_out_of_memory":
            raise DecoderKilled(err["reason"], str(err["detail"]))
        raise ExtractorError(str(err["extractor"]), str(err["reason"]), str(err["detail"]))
    ok = head["ok"]
    offset = _HEADER.size + size
    frames = []
    for meta in ok["key_frames"]:
        n = int(meta.pop("data"))
        if n < 0 or offset + n > len(message):
            raise DecoderKilled("decoder_protocol", "key frame bytes past the end of the answer")
        frames.append(KeyFrame(**meta, data=message[offset : offset + n]))
        offset += n
    anchors = [Anchor.model_validate(a) for a in ok["anchors"]]
    facts = WindowFacts(
        anchors,
        frames,
        int(ok["num_frames"]),
        float(ok["start_time"]),
        float(ok["end_time"]),
        None if ok["instruction"] is None else str(ok["instruction"]),
    )
    return facts, [str(n) for n in ok["overruns"]]


def _error(extractor: str, reason: str, detail: str) -> bytes:
    body = json.dumps({"error": {"extractor": extractor, "reason": reason, "detail": detail[:2000]}}).encode()
    return _HEADER.pack(len(body)) + body


def _ran_out(exc: BaseException | None) -> bool:
    """Whether `exc` or what it was raised from is a MemoryError (decoders and experts wrap theirs)."""
    seen = 0
    while exc is not None and seen < 16:
        if isinstance(exc, MemoryError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _refusal(exc: Exception) -> bytes:
    if isinstance(exc, ExtractorError):
        return _error(exc.extractor, exc.reason, exc.detail)
    if isinstance(exc, RecordError):
        return _error(POOL_NAME, exc.reason, exc.detail)
    return _error(POOL_NAME, "extractor_failed", f"{type(exc).__name__}: {exc}")


def _one_arena() -> None:
    """One glibc malloc arena: each thread's arena reserves 64 MiB of address space it may never use, and
    the address-space limit should measure what decoding takes, not how many threads touched the heap."""
    try:
        ctypes.CDLL(None).mallopt(ctypes.c_int(-8), ctypes.c_int(1))  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc: its default allocator
        pass


def _serve(conn: Any, anchorings: Mapping[str, WindowAnchoring], memory_bytes: int) -> None:
    """A child's loop: one window in, one answer out, until the parent closes the pipe."""
    _one_arena()
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    while True:
        try:
            window: ClosedWindow = conn.recv()  # from the worker, which this child trusts
        except EOFError:
            return
        conn.send_bytes(_TAKEN)
        try:
            with budget_overruns() as overruns:
                facts = anchorings[window.domain].facts(window)
            answer = _encode(facts, list(overruns))
        except Exception as exc:
            if _ran_out(exc):  # libav's ENOMEM is av.error.MemoryError, a MemoryError too
                conn.send_bytes(_error(POOL_NAME, "decoder_out_of_memory", f"{type(exc).__name__}: {exc}"))
                return  # a heap that ran out is not reused: the parent starts a fresh child
            answer = _refusal(exc)
        conn.send_bytes(answer)


class _Child:
    def __init__(self, ctx: Any, anchorings: Mapping[str, WindowAnchoring], memory_bytes: int) -> None:
        self.conn, child_end = ctx.Pipe()
        self.proc = ctx.Process(
            target=_serve,
            args=(child_end, dict(anchorings), memory_bytes),
            daemon=True,
            name="tailor-decoder",
        )
        self.proc.start()
        child_end.close()
        self.tasks = 0

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


class AnchoringPool:
    """`facts(window)` of the window's domain, computed in a bounded, reused child process."""

    def __init__(self, anchorings: Mapping[str, WindowAnchoring], config: AnchoringPoolConfig) -> None:
        self.anchorings = dict(anchorings)
        self.config = config
        self.ctx = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(_PRELOAD)
        self._idle: queue.LifoQueue[_Child | None] = queue.LifoQueue()
        for _ in range(config.window_decode_processes):
            self._idle.put(None)  # a free slot; its child starts on first use
        self.started = 0  # children started (for metrics and tests)
        self.windows = 0  # windows sent to a child

    def facts(self, window: ClosedWindow, timeout_s: float) -> tuple[WindowFacts, list[str]]:
        """The window's facts and the experts that overran their budget; `DecoderKilled` if its child died."""
        child = self._idle.get()
        try:
            if child is None or not child.proc.is_alive():
                child = self._start()
            self.windows += 1
            child = self._hand_over(child, window)
            if not child.conn.poll(timeout_s):
                child.kill()
                child = None
                raise DecoderKilled("extract_timeout", f"decoder process killed after {timeout_s:g} s")
            try:
                message = child.conn.recv_bytes()
            except (EOFError, OSError):
                child.proc.join(5)
                code = child.proc.exitcode
                child.kill()
                child = None
                raise DecoderKilled("decoder_crashed", f"decoder process died (exit code {code})") from None
            facts, overruns = _decode(message)
            return facts, overruns
        except DecoderKilled:
            if child is not None:  # out of memory: its heap is not reused
                child.kill()
                child = None
            raise
        finally:
            if child is not None and child.tasks >= self.config.window_decode_tasks_per_process:
                child.kill()
                child = None
            self._idle.put(child)

    def _hand_over(self, child: _Child, window: ClosedWindow) -> _Child:
        """The child that took the window (it says so before it starts): one that died while idle (the OOM
        killer, a signal) is replaced, and the window, which did not kill it, goes to the new one."""
        for _ in range(2):
            child.tasks += 1
            try:
                child.conn.send(window)
                if child.conn.poll(HAND_OVER_S) and child.conn.recv_bytes() == _TAKEN:
                    return child
            except (EOFError, OSError):
                pass
            child.kill()
            child = self._start()
        child.kill()
        raise DecoderKilled("decoder_crashed", "decoder processes died before they took the window")

    def _start(self) -> _Child:
        self.started += 1
        memory = self.config.window_decode_memory_mb * 1024 * 1024
        return _Child(self.ctx, self.anchorings, memory)

    def pids(self) -> list[int]:
        """The live children's process ids (idle ones only)."""
        held = []
        while True:
            try:
                held.append(self._idle.get_nowait())
            except queue.Empty:
                break
        for c in reversed(held):
            self._idle.put(c)
        return [c.proc.pid for c in held if c is not None and c.proc.is_alive()]

    def close(self) -> None:
        """Stop the idle children (at shutdown)."""
        while True:
            try:
                child = self._idle.get_nowait()
            except queue.Empty:
                return
            if child is not None:
                child.kill()
