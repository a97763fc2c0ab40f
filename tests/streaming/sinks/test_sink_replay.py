"""Idempotence of the Parquet sink: repeats, restarts, a crashed worker, a racing writer never duplicate."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import pyarrow.parquet as pq

from core.blobstore import BlobStore
from core.records import Example, FrameRef
from streaming.sinks.layout import list_parts, temp_name
from streaming.sinks.parquet_sink import ParquetSink
from streaming.sinks.parquet_sink_config import ParquetSinkConfig
from streaming.sinks.reader import read_examples
from tests.streaming.sinks.sink_helpers import make_example, tree

REPO = Path(__file__).resolve().parents[3]


def open_sink(root: Path, store: BlobStore, writer: str = "w1") -> ParquetSink:
    return ParquetSink(ParquetSinkConfig(root=root, writer_id=writer), store).open()


def ids_on_disk(root: Path) -> list[str]:
    out = []
    for part in list_parts(root):
        out += pq.ParquetFile(part.path).read(columns=["example_id"])["example_id"].to_pylist()
    return sorted(out)


def batch(frame_refs: list[FrameRef], start: int, n: int) -> list[Example]:
    fams = ["gui_next_action", "robot_subtask"]
    return [make_example(i, fams[i % 2], frame_refs[i % 6 : i % 6 + 2]) for i in range(start, start + n)]


def test_same_examples_added_twice(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]
) -> None:
    root = tmp_path / "ds"
    s = open_sink(root, frame_store)
    examples = batch(frame_refs, 0, 6)
    assert s.add(examples + examples[:2]) == 6  # repeats inside one call are skipped too
    assert s.add(examples) == 0  # already buffered
    s.flush()
    assert s.add(list(reversed(examples))) == 0  # already on disk
    assert s.flush() == []
    assert s.stats.duplicates_skipped == 14
    assert ids_on_disk(root) == sorted(e.example_id for e in examples)


def test_restarted_sink_replaying_the_same_examples(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef], hf_cache: str
) -> None:
    root = tmp_path / "ds"
    first = open_sink(root, frame_store)
    first.add(batch(frame_refs, 0, 8))
    before = first.flush()
    restarted = open_sink(root, frame_store)  # a new instance on the same directory: the worker restarted
    assert restarted.add(batch(frame_refs, 0, 8)) == 0
    assert restarted.flush() == []
    assert restarted.add(batch(frame_refs, 4, 8)) == 4  # half replayed, half new
    after = restarted.flush()
    assert {p.name for p in after}.isdisjoint({p.name for p in before})  # file numbering continues
    ds = datasets.load_dataset("parquet", data_dir=str(root), split="train", cache_dir=hf_cache)
    assert sorted(ds["example_id"]) == sorted(e.example_id for e in batch(frame_refs, 0, 12))


CRASHING_WORKER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from core.blobstore import BlobStore
    from core.records import Example
    from streaming.sinks.parquet_sink import ParquetSink
    from streaming.sinks.parquet_sink_config import ParquetSinkConfig

    root, frames, committed, pending = sys.argv[1:5]
    load = lambda p: [Example.from_bytes(line) for line in Path(p).read_bytes().splitlines()]
    config = ParquetSinkConfig(root=Path(root), writer_id="w1")
    sink = ParquetSink(config, BlobStore.for_dir(Path(frames))).open()
    sink.add(load(committed))
    sink.flush()                      # flushed: the worker would commit these offsets now
    sink.add(load(pending))           # buffered, never flushed
    os._exit(3)                       # the worker dies before its next flush and commit
""")


def test_crash_between_add_and_flush_then_replay(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef], hf_cache: str
) -> None:
    root = tmp_path / "ds"
    committed, pending = batch(frame_refs, 0, 5), batch(frame_refs, 5, 5)
    files = []
    for name, examples in (("committed", committed), ("pending", pending)):
        files.append(tmp_path / f"{name}.jsonl")
        files[-1].write_bytes(b"\n".join(e.to_bytes() for e in examples))
    argv = [sys.executable, "-c", CRASHING_WORKER, str(root), str(tmp_path / "frames"), *map(str, files)]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, timeout=120)
    assert proc.returncode == 3, proc.stderr.decode()[-2000:]
    assert ids_on_disk(root) == sorted(e.example_id for e in committed)  # flushed rows survived the crash

    # a crash in the middle of a write leaves an unpublished temporary: make one from a real part file
    part = list_parts(root)[0].path
    leftover = part.parent / temp_name("w1", 99)
    leftover.write_bytes(part.read_bytes()[: part.stat().st_size // 2])

    # the replacement worker replays from the last committed offset (at-least-once: some rows again)
    replay = open_sink(root, frame_store)
    assert not leftover.exists()  # the unfinished file was removed on open
    assert replay.add(committed[3:] + pending) == len(pending)
    replay.flush()
    ds = datasets.load_dataset("parquet", data_dir=str(root), split="train", cache_dir=hf_cache)
    assert sorted(ds["example_id"]) == sorted(e.example_id for e in committed + pending)
    assert all(len(row["frames"]) == 2 for row in ds)
    assert not [p for p in tree(root) if p.endswith(".tmp")]


def test_a_racing_writer_does_not_duplicate(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]
) -> None:
    """A partition moved between workers: the new owner replays rows the old one flushed, never committed."""
    root = tmp_path / "ds"
    old_owner, new_owner = open_sink(root, frame_store, "worker-a"), open_sink(root, frame_store, "worker-b")
    examples = batch(frame_refs, 0, 6)
    old_owner.add(examples)
    assert new_owner.add(examples[2:]) == 4  # it opened before the old owner flushed
    old_owner.flush()
    new_owner.add(batch(frame_refs, 6, 2))
    new_owner.flush()  # rescans, sees worker-a's files, drops the 4 rows already there
    assert ids_on_disk(root) == sorted(e.example_id for e in batch(frame_refs, 0, 8))
    assert new_owner.stats.duplicates_skipped == 4


def test_sinks_in_one_process_never_collide_on_file_names(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]
) -> None:
    root = tmp_path / "ds"
    a, b = open_sink(root, frame_store, "w1-0"), open_sink(root, frame_store, "w1-1")
    a.add(batch(frame_refs, 0, 4))
    b.add(batch(frame_refs, 4, 4))
    written = a.flush() + b.flush()
    assert len({p.name for p in written}) == len(written) == 4
    # even two sinks misconfigured with the SAME writer id never overwrite each other's files
    c, d = open_sink(root, frame_store, "dup"), open_sink(root, frame_store, "dup")
    c.add(batch(frame_refs, 8, 1))
    d.add(batch(frame_refs, 10, 1))
    (pc,), (pd,) = c.flush(), d.flush()
    assert pc.parent == pd.parent and pc != pd
    assert len(read_examples(root)) == 10
