"""glibc allocator settings for the long-running worker: fewer malloc arenas, and free memory handed
back to the system now and then.

A Python worker that hands work to threads (Faust's consumer thread, `asyncio.to_thread` for decoding,
extraction and Parquet writes) gets one glibc arena per thread that touches memory, up to 8 per core,
and freed memory stays in them: RSS swings by tens of MiB with no leak behind it, which makes a memory
trend hard to read. `M_ARENA_MAX` bounds the arenas (set before the threads start) and `malloc_trim(0)`
returns free pages to the system. Nothing happens on a C library other than glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import platform
from typing import Any

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter number


@functools.cache  # find_library runs ldconfig in a subprocess: once per process, not every trim
def glibc() -> Any | None:
    """The C library when it is glibc (mallopt and malloc_trim present), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    return libc


def limit_arenas(count: int) -> bool:
    """Allow at most `count` malloc arenas (0: leave glibc's default); True when set."""
    libc = glibc()
    if count <= 0 or libc is None:
        return False
    ok = bool(libc.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(count)))
    log.info("malloc arenas limited to %d: %s", count, "ok" if ok else "refused")
    return ok


def trim() -> bool:
    """Give free heap memory back to the system; True when some was released."""
    libc = glibc()
    return bool(libc.malloc_trim(ctypes.c_size_t(0))) if libc is not None else False
