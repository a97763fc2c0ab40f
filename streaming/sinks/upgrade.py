"""Rewrite part files of an older sink schema in the current one (their missing columns null, rows and
names unchanged), so `datasets.load_dataset` can read a family whose files span schema versions: its
Parquet builder refuses files whose columns differ ("column names don't match"). Tailor's own readers
never need this (`parquet_schema.conform`).

Each file is rewritten to a temporary beside it, fsynced, and renamed over the old name (atomic: a reader
sees the old file or the new one). Running sinks write only the current schema, so they never touch the
files rewritten here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from streaming.sinks.layout import fsync_dir, list_parts
from streaming.sinks.parquet_schema import SCHEMA_VERSION_KEY, SINK_SCHEMA_VERSION, conform


@dataclass(frozen=True)
class UpgradeResult:
    upgraded: list[Path]
    current: int  # part files already of the current schema


def part_version(path: Path) -> int:
    """The sink schema version a part file was written with (1 for files that predate the key)."""
    metadata = pq.read_schema(path).metadata or {}
    raw = metadata.get(SCHEMA_VERSION_KEY)
    return int(raw) if raw and raw.isdigit() else 1


def old_parts(root: Path) -> list[Path]:
    return [p.path for p in list_parts(root) if part_version(p.path) < SINK_SCHEMA_VERSION]


def upgrade_dataset(root: Path, compression: str = "zstd") -> UpgradeResult:
    old = old_parts(root)
    for path in old:
        old_table = pq.read_table(path, partitioning=None)
        table = conform(old_table)
        # keep the file's own keys (compaction's `tailor.replaces`), with the current schema's over them
        metadata = {**(old_table.schema.metadata or {}), **(table.schema.metadata or {})}
        table = table.replace_schema_metadata(metadata)
        tmp = path.with_name(f".{path.name}.upgrade.tmp")
        pq.write_table(table, tmp, compression=compression)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    return UpgradeResult(old, len(list_parts(root)) - len(old))
