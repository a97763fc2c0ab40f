"""One bounded thread pool per stage, instead of asyncio's one default executor for every `to_thread`.

`asyncio.wait_for(to_thread(...))` stops waiting at its timeout but not the work: a read that blocks (a FIFO
planted in the blob root, a stuck mount) keeps its thread. With one shared executor, a few such threads
filled it, and every other stage's blocking work (window spills, key-frame loads, Parquet writes) queued
behind them: a valid record was dead-lettered as `decode_timeout` for another's stall. Each stage here has
its own pool, sized by `stage_threads`, so one slow stage waits only on itself.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from streaming.executors_config import DEFAULT_STAGE_THREADS

T = TypeVar("T")
UNNAMED_STAGE_THREADS = 2

_lock = threading.Lock()
_sizes: dict[str, int] = dict(DEFAULT_STAGE_THREADS)
_pools: dict[str, ThreadPoolExecutor] = {}


def configure(stage_threads: Mapping[str, int]) -> None:
    """Pool sizes from the settings (at start-up, before the stages run; a pool already made keeps its size)."""
    with _lock:
        _sizes.update({k: max(1, int(v)) for k, v in stage_threads.items()})


def pool(stage: str) -> ThreadPoolExecutor:
    with _lock:
        found = _pools.get(stage)
        if found is None:
            size = _sizes.get(stage, UNNAMED_STAGE_THREADS)
            found = _pools[stage] = ThreadPoolExecutor(size, thread_name_prefix=f"tailor-{stage}")
        return found


async def in_stage(stage: str, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on the stage's own pool (like `asyncio.to_thread`, context variables included)."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    return await loop.run_in_executor(pool(stage), functools.partial(ctx.run, fn, *args))


def shutdown() -> None:
    """Stop every pool without waiting for work that blocks (at exit)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for p in pools:
        p.shutdown(wait=False, cancel_futures=True)
