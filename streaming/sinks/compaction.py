"""Compaction: merge one writer's small part files of a partition into files near `max_file_bytes`.

Every flush writes new part files, so a worker that commits often leaves many small files. `Compactor`
merges them, one partition at a time, crash-safely:

1. the merged file is written and published like any part file, its Parquet metadata listing the
   files it replaces (`tailor.replaces`);
2. the replaced files are deleted.

A crash between 1 and 2 leaves rows twice on disk (never lost); the next `compact()` finishes the job
first (it deletes a listed file only if every id in it is in the merged file). Example ids are
unaffected, so sinks keep deduplicating. Only the given writer's files are touched, and only
partitions dated before `before_date` when given: run it on past days, where writers no longer
append and readers are not listing the files (a reader that listed a partition before the delete
would miss the replaced files).
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from streaming.sinks.layout import DATE_KEY, PartFile, fsync_dir, list_parts, part_name, publish, temp_name
from streaming.sinks.parquet_schema import conform, example_schema
from streaming.sinks.parquet_sink import SinkError, read_ids
from streaming.sinks.parquet_sink_config import ParquetSinkConfig

log = logging.getLogger(__name__)

REPLACES_KEY = b"tailor.replaces"


@dataclass
class CompactionResult:
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    recovered: list[Path] = field(default_factory=list)  # leftovers of an interrupted compaction


def replaced_names(path: Path) -> list[str]:
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(REPLACES_KEY)
    return [str(n) for n in json.loads(raw)] if raw else []


class Compactor:
    def __init__(self, config: ParquetSinkConfig) -> None:
        self.config = config

    def compact(self, before_date: str | None = None) -> CompactionResult:
        result = CompactionResult()
        parts = list_parts(self.config.root)
        self.recover(parts, result)
        by_dir: dict[Path, list[PartFile]] = defaultdict(list)
        for part in list_parts(self.config.root):
            if part.writer == self.config.writer_id and self.eligible(part.path.parent, before_date):
                by_dir[part.path.parent].append(part)
        next_seq = 1 + max((p.seq for p in parts if p.writer == self.config.writer_id), default=-1)
        for directory, files in sorted(by_dir.items()):
            for group in self.groups(sorted(files, key=lambda p: p.seq)):
                merged, next_seq = self.merge(directory, group, next_seq)
                result.written.append(merged)
                for part in group:
                    part.path.unlink()
                    result.removed.append(part.path)
                fsync_dir(directory)
        return result

    @staticmethod
    def eligible(directory: Path, before_date: str | None) -> bool:
        date = directory.name.removeprefix(f"{DATE_KEY}=")
        return before_date is None or date < before_date

    def groups(self, files: list[PartFile]) -> list[list[PartFile]]:
        """Runs of small files whose total stays under max_file_bytes; only runs of two or more."""
        limit = self.config.max_file_bytes
        out: list[list[PartFile]] = []
        run: list[PartFile] = []
        size = 0
        for part in files:
            n = part.path.stat().st_size
            if n >= limit // 2 or size + n > limit:
                if len(run) > 1:
                    out.append(run)
                run, size = ([], 0) if n >= limit // 2 else ([part], n)
                continue
            run.append(part)
            size += n
        if len(run) > 1:
            out.append(run)
        return out

    def merge(self, directory: Path, group: list[PartFile], seq: int) -> tuple[Path, int]:
        schema = example_schema()
        try:
            table = pa.concat_tables([conform(pq.ParquetFile(p.path).read()) for p in group])
        except (pa.ArrowException, OSError, ValueError) as err:
            raise SinkError("corrupt_part_file", f"{directory}: {type(err).__name__}: {err}"[:500]) from None
        meta = dict(schema.metadata or {})
        meta[REPLACES_KEY] = json.dumps([p.path.name for p in group]).encode()
        table = table.replace_schema_metadata(meta)
        writer_id = self.config.writer_id
        while True:
            final, tmp = directory / part_name(writer_id, seq), directory / temp_name(writer_id, seq)
            seq += 1
            if final.exists():
                continue
            try:
                with open(tmp, "wb") as fh:
                    with pq.ParquetWriter(fh, table.schema, compression=self.codec()) as writer:
                        writer.write_table(table, row_group_size=self.config.row_group_rows)
                    fh.flush()
                    os.fsync(fh.fileno())
                if publish(tmp, final):
                    break
            finally:
                tmp.unlink(missing_ok=True)
        log.info("compacted %d files (%d rows) into %s", len(group), table.num_rows, final)
        return final, seq

    def codec(self) -> str | None:
        return None if self.config.compression == "none" else self.config.compression

    @staticmethod
    def recover(parts: list[PartFile], result: CompactionResult) -> None:
        """Delete files an interrupted compaction already merged (if the merged file holds all their ids)."""
        for part in parts:
            names = replaced_names(part.path)
            if not names:
                continue
            merged_ids: set[str] | None = None
            for name in names:
                source = part.path.parent / name
                if source == part.path or not source.exists():
                    continue
                merged_ids = merged_ids if merged_ids is not None else set(read_ids(part.path))
                if set(read_ids(source)) <= merged_ids:
                    log.warning("finishing an interrupted compaction: removing %s", source)
                    source.unlink()
                    result.recovered.append(source)
            fsync_dir(part.path.parent)
