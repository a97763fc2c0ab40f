"""glibc allocator tuning: arenas limited, free heap memory handed back (in a child process: it is
process-wide)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from streaming.malloc_tuning import glibc
from tests.conftest import REPO

SCRIPT = r"""
from streaming.malloc_tuning import limit_arenas, trim

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

assert limit_arenas(2) and not limit_arenas(0)
blocks = [b"x" * 1000 + bytes([i % 256]) for i in range(150_000)]  # ~150 MB in glibc-malloc'd chunks
kept = blocks[::64]  # one chunk in 64 stays: the free memory is holes between live chunks, and free()
before = rss_mb()    # can only give back the top of a heap
del blocks
freed_only = rss_mb()
released = trim()
after = rss_mb()
print(f"{before:.0f} {freed_only:.0f} {after:.0f} {released}")
"""


@pytest.mark.skipif(glibc() is None, reason="glibc only (mallopt, malloc_trim)")
def test_trim_hands_freed_heap_back() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    before, freed_only, after, released = done.stdout.split()
    assert released == "True"
    assert float(before) - float(freed_only) < 50  # free() kept the pages
    assert float(freed_only) - float(after) > 100, done.stdout  # malloc_trim gave them back
