"""The Parquet example sink: validated examples in, an idempotent, partitioned Parquet dataset out.

Lifecycle, as a Kafka consumer uses it:

    sink = ParquetSink(config, frame_store).open()   # loads the example ids already on disk
    sink.add(examples)          # buffers new rows (returns how many were new)
    sink.maybe_rotate()         # now and then: writes buffers that are old enough
    sink.flush()                # before committing offsets: every buffered row is on disk, durably

Design: rows are buffered in memory per partition (task family, UTC date of created_at) and every
write produces a new, closed part file (temporary name, fsync, hard-link publish, directory fsync).
A part file is written when its partition's buffer reaches `max_file_bytes` (estimated, checked on
add), when its oldest row is `max_file_age_s` old (`maybe_rotate`), or on `flush`. There is no open
Parquet writer between calls, so everything `flush` returned is durable and a crash loses only rows
that were never flushed, which the consumer replays (their offsets were never committed).

Idempotence: the example ids of every part file are loaded on open (only that column is read), and
rows whose id is on disk or already buffered are skipped, so replays and restarts never duplicate.
Blocking I/O: call `add`/`flush` from a worker thread (e.g. `loop.run_in_executor`) in async code.

`PartitionedSink` is that machinery for any record with an `example_id`; `ParquetSink` is its examples
table and `RejectedSink` (streaming/sinks/rejected.py) its rejected candidates' table under `__rejected/`.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from core.blobstore import BlobStore
from core.errors import TailorError
from core.records import Example
from streaming.sinks.base import ExampleSink
from streaming.sinks.frames import EmbeddedFrames, FramePolicy, ReferencedFrames
from streaming.sinks.layout import (
    LayoutError,
    Partition,
    ensure_dir,
    escape_value,
    list_parts,
    list_temps,
    part_name,
    publish,
    temp_name,
)
from streaming.sinks.parquet_schema import (
    RowError,
    estimated_bytes,
    example_row,
    example_schema,
    utc_datetime,
)
from streaming.sinks.parquet_sink_config import ParquetSinkConfig

log = logging.getLogger(__name__)

_CONVERSION_ERRORS = (pa.ArrowException, ValueError, TypeError, OverflowError)
_FILE_OVERHEAD = 16 * 1024  # footer: schema (with the datasets features) and column-chunk metadata
_ROW_GROUP_OVERHEAD = 4 * 1024  # metadata and page headers of one row group


class SinkError(TailorError, RuntimeError):
    """The dataset cannot be used safely; `reason` is a short label."""


@dataclass
class SinkStats:
    rows_added: int = 0
    rows_written: int = 0
    files_written: int = 0
    duplicates_skipped: int = 0
    frame_errors: Counter[str] = field(default_factory=Counter)  # frames not embedded, by reason
    dropped: Counter[str] = field(default_factory=Counter)  # examples not written at all, by reason


@dataclass
class _Buffer:
    first_added: float  # time.monotonic() of its oldest row
    ids: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    size: int = 0


@dataclass
class _State:
    on_disk: set[str]
    seen_files: set[Path]
    next_seq: int
    buffers: dict[Partition, _Buffer] = field(default_factory=dict)
    buffered_ids: set[str] = field(default_factory=set)


def read_ids(path: Path) -> list[str]:
    """The example ids of one part file (only that column is read)."""
    try:
        column = pq.ParquetFile(path).read(columns=["example_id"]).column("example_id")
    except (pa.ArrowException, OSError, KeyError) as err:
        raise SinkError("corrupt_part_file", f"{path}: {type(err).__name__}: {err}"[:500]) from None
    return [str(v) for v in column.to_pylist()]


class Identified(Protocol):
    @property
    def example_id(self) -> str: ...


R = TypeVar("R", bound=Identified)


class PartitionedSink(Generic[R]):
    """Buffers, partitions, rotates and publishes rows of records of one kind, idempotent by example_id;
    a subclass says what the rows are (`schema`) and how a record becomes one (`_row`)."""

    def __init__(self, config: ParquetSinkConfig) -> None:
        self.config = config

    # --- state -------------------------------------------------------------------------------

    @cached_property
    def stats(self) -> SinkStats:
        return SinkStats()

    @cached_property
    def schema(self) -> pa.Schema:
        raise NotImplementedError

    def _row(self, record: R) -> tuple[Partition, dict[str, Any] | None, int]:
        """The record's partition, its row (None: dropped, counted in stats) and the row's estimated size."""
        raise NotImplementedError

    @cached_property
    def _state(self) -> _State:
        root, writer = self.config.root, self.config.writer_id
        for tmp in list_temps(root, writer):  # an interrupted write of this writer: never published
            log.warning("removing unfinished part file %s", tmp)
            tmp.unlink(missing_ok=True)
        parts = list_parts(root)
        on_disk: set[str] = set()
        for part in parts:
            on_disk.update(read_ids(part.path))
        next_seq = 1 + max((p.seq for p in parts if p.writer == writer), default=-1)
        log.info("sink %s opened %s: %d part files, %d example ids", writer, root, len(parts), len(on_disk))
        return _State(on_disk=on_disk, seen_files={p.path for p in parts}, next_seq=next_seq)

    def open(self) -> Self:
        """Load the ids already in the dataset (also done lazily by the first add/flush)."""
        _ = self._state
        return self

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self.flush()

    def known(self, example_id: str) -> bool:
        state = self._state
        return example_id in state.on_disk or example_id in state.buffered_ids

    @property
    def buffered_rows(self) -> int:
        return len(self._state.buffered_ids)

    # --- public operations ---------------------------------------------------------------------

    def add(self, examples: Sequence[R], now: float | None = None) -> int:
        """Buffer the examples not yet in the dataset or buffer; return how many were new."""
        state, stats = self._state, self.stats
        now = time.monotonic() if now is None else now
        new = 0
        for example in examples:
            if self.known(example.example_id):
                stats.duplicates_skipped += 1
                continue
            try:
                partition, row, size = self._row(example)
            except (RowError, LayoutError) as err:
                stats.dropped[err.reason] += 1
                log.warning("example %s not written: %s", example.example_id, err)
                continue
            if row is None:
                continue
            buf = state.buffers.get(partition)
            if buf is not None and self._estimate(buf, size) > self.config.max_file_bytes:
                self._write(partition)  # this row would push the file past max_file_bytes: close it first
                buf = None
            if buf is None:
                buf = state.buffers[partition] = _Buffer(first_added=now)
            buf.ids.append(example.example_id)
            buf.rows.append(row)
            buf.sizes.append(size)
            buf.size += size
            state.buffered_ids.add(example.example_id)
            stats.rows_added += 1
            new += 1
            if self._estimate(buf) >= self.config.max_file_bytes:
                self._write(partition)
        return new

    def flush(self) -> list[Path]:
        """Write every buffered row to new part files, durably; call before committing offsets."""
        if self.config.rescan_on_flush:
            self._rescan()
        return self._write_all(sorted(self._state.buffers))

    def maybe_rotate(self, now: float | None = None) -> list[Path]:
        """Write the buffers whose oldest row has waited `max_file_age_s` (time-based rotation)."""
        now = time.monotonic() if now is None else now
        due = [p for p, b in self._state.buffers.items() if now - b.first_added >= self.config.max_file_age_s]
        return self._write_all(sorted(due))

    def _write_all(self, partitions: list[Partition]) -> list[Path]:
        return [path for path in (self._write(p) for p in partitions) if path is not None]

    # --- plumbing ------------------------------------------------------------------------------

    def _estimate(self, buf: _Buffer, extra: int = 0) -> int:
        """Estimated size of the part file of `buf` (plus one more row of `extra` bytes)."""
        rows = len(buf.ids) + (1 if extra else 0)
        groups = -(-rows // self.config.row_group_rows)
        return _FILE_OVERHEAD + groups * _ROW_GROUP_OVERHEAD + buf.size + extra

    def _rescan(self) -> None:
        """Pick up part files other writers published since the last scan; drop rows they hold."""
        state = self._state
        fresh = [p for p in list_parts(self.config.root) if p.path not in state.seen_files]
        for part in fresh:
            state.on_disk.update(read_ids(part.path))
            state.seen_files.add(part.path)
        if not fresh:
            return
        for partition, buf in list(state.buffers.items()):
            keep = [i for i, eid in enumerate(buf.ids) if eid not in state.on_disk]
            if len(keep) == len(buf.ids):
                continue
            dropped = [eid for eid in buf.ids if eid in state.on_disk]
            state.buffered_ids.difference_update(dropped)
            self.stats.duplicates_skipped += len(dropped)
            log.info("%d buffered rows of %s were already written by another writer", len(dropped), partition)
            if not keep:
                del state.buffers[partition]
                continue
            buf.ids = [buf.ids[i] for i in keep]
            buf.rows = [buf.rows[i] for i in keep]
            buf.sizes = [buf.sizes[i] for i in keep]
            buf.size = sum(buf.sizes)

    def _write(self, partition: Partition) -> Path | None:
        """Write one partition's buffer as a new part file; the buffer is kept if anything fails."""
        state, cfg = self._state, self.config
        buf = state.buffers[partition]
        table = self._table(buf)
        if not buf.ids:  # every row was refused
            del state.buffers[partition]
            return None
        directory = ensure_dir(cfg.root, partition.relative_dir())
        while True:
            seq = state.next_seq
            state.next_seq += 1
            final = directory / part_name(cfg.writer_id, seq)
            if final.exists():
                continue
            tmp = directory / temp_name(cfg.writer_id, seq)
            try:
                self._write_file(table, tmp)
                if publish(tmp, final):
                    break
            finally:
                tmp.unlink(missing_ok=True)
        del state.buffers[partition]
        state.on_disk.update(buf.ids)
        state.buffered_ids.difference_update(buf.ids)
        state.seen_files.add(final)
        self.stats.rows_written += len(buf.ids)
        self.stats.files_written += 1
        log.info("wrote %s: %d rows, %d bytes", final, len(buf.ids), final.stat().st_size)
        return final

    def _table(self, buf: _Buffer) -> pa.Table:
        """The buffer as a table; rows Arrow refuses (e.g. lone surrogates in a string) are dropped."""
        try:
            return pa.Table.from_pylist(buf.rows, schema=self.schema)
        except _CONVERSION_ERRORS:
            pass
        good: list[int] = []
        for i, row in enumerate(buf.rows):
            try:
                pa.Table.from_pylist([row], schema=self.schema)
            except _CONVERSION_ERRORS as err:
                self.stats.dropped["arrow_conversion"] += 1
                self._state.buffered_ids.discard(buf.ids[i])
                log.warning("example %s not written: %s: %s", buf.ids[i], type(err).__name__, str(err)[:200])
                continue
            good.append(i)
        buf.ids, buf.rows = [buf.ids[i] for i in good], [buf.rows[i] for i in good]
        buf.sizes = [buf.sizes[i] for i in good]
        buf.size = sum(buf.sizes)
        return pa.Table.from_pylist(buf.rows, schema=self.schema)

    def _write_file(self, table: pa.Table, path: Path) -> None:
        codec = None if self.config.compression == "none" else self.config.compression
        with open(path, "wb") as fh:
            with pq.ParquetWriter(fh, self.schema, compression=codec) as writer:
                writer.write_table(table, row_group_size=self.config.row_group_rows)
            fh.flush()
            os.fsync(fh.fileno())


def partition_of(task_family: str, created_at: float) -> Partition:
    partition = Partition(task_family, utc_datetime(created_at).date().isoformat())
    escape_value(partition.task_family)  # LayoutError now rather than at write time
    return partition


class ParquetSink(PartitionedSink[Example], ExampleSink):
    """The examples table: accepted examples, key frames embedded (or referenced) per `frame_policy`."""

    name = "parquet"

    def __init__(self, config: ParquetSinkConfig, frames: BlobStore | None) -> None:
        super().__init__(config)
        self.frames = frames

    @cached_property
    def schema(self) -> pa.Schema:
        return example_schema()

    @cached_property
    def frame_policy(self) -> FramePolicy:
        cfg = self.config
        if not cfg.embed_frames:
            return ReferencedFrames()
        if self.frames is None:
            raise SinkError("no_frame_store", "embed_frames is on but the sink was given no frame store")
        return EmbeddedFrames(self.frames, cfg.max_frame_bytes, cfg.max_frame_pixels)

    def open(self) -> Self:
        _ = self.frame_policy
        return super().open()

    def _row(self, record: Example) -> tuple[Partition, dict[str, Any] | None, int]:
        partition = partition_of(record.task_family, record.created_at)
        cells = self.frame_policy.cells(record)
        errors = [c.error for c in cells if c.error is not None]
        if errors and self.config.frame_error_policy == "drop_example":
            self.stats.dropped[errors[0]] += 1
            log.warning("example %s dropped: frame not embedded (%s)", record.example_id, ", ".join(errors))
            return partition, None, 0
        self.stats.frame_errors.update(errors)
        row = example_row(record, cells)
        return partition, row, estimated_bytes(row)
