"""The rejected candidates' table: `RejectedExample`s (topic `tailor.examples.rejected`) as Parquet rows under
`<dataset>/__rejected/`, beside the examples, so an audit can see what was refused and why without Kafka.

Same machinery as the examples table (`PartitionedSink`: partitions by task family and UTC date, closed part
files published atomically, idempotent by example id, flushed before offsets are committed), its own typed,
versioned schema (`tailor.rejected_schema_version`). The readers of the training data never list this folder
(`layout.list_parts`), so rejected rows reach an export, a card or a `datasets` config only when asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from core.records import RejectedExample
from streaming.sinks.layout import REJECTED_DIR, Partition, list_parts
from streaming.sinks.parquet_schema import anchors_json, json_anchors, row_source, source_cells, utc_datetime
from streaming.sinks.parquet_sink import PartitionedSink, SinkError, partition_of
from streaming.sinks.parquet_sink_config import ParquetSinkConfig

# 1 (7 Dec): the record's fields, its source span and intent text, and the window's anchors (for the timeline)
REJECTED_SCHEMA_VERSION = 1
REJECTED_SCHEMA_KEY = b"tailor.rejected_schema_version"

_STR_LIST = pa.list_(pa.string())
_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("example_id", pa.string()),
    ("task_family", pa.string()),
    ("window_id", pa.string()),
    ("reasons", _STR_LIST),
    ("details", _STR_LIST),
    ("raw_output", pa.string()),
    ("model", pa.string()),
    ("weights_version", pa.string()),
    ("intent_id", pa.string()),
    ("intent_ids", _STR_LIST),
    ("intent_text", pa.string()),
    ("prompt_sha256", pa.string()),
    ("image_frames", pa.list_(pa.int64())),
    ("rewards", pa.list_(pa.struct([("name", pa.string()), ("value", pa.float64())]))),
    ("created_at", pa.timestamp("us", tz="UTC")),
    # null when the record predates them (the source span is optional on the record)
    ("source_topic", pa.string()),
    ("source_partition", pa.int32()),
    ("source_first_offset", pa.int64()),
    ("source_last_offset", pa.int64()),
    ("source_start_time", pa.float64()),
    ("source_end_time", pa.float64()),
    ("window_anchors_json", pa.string()),
]
REJECTED_COLUMNS = [name for name, _ in _COLUMNS]


def rejected_root(root: Path) -> Path:
    """The rejected table's folder inside the dataset folder `root`."""
    return root / REJECTED_DIR


def rejected_schema() -> pa.Schema:
    meta = {REJECTED_SCHEMA_KEY: str(REJECTED_SCHEMA_VERSION).encode()}
    return pa.schema([pa.field(name, typ) for name, typ in _COLUMNS], metadata=meta)


def rejected_row(rej: RejectedExample) -> dict[str, Any]:
    src = rej.source
    return {
        "example_id": rej.example_id,
        "task_family": rej.task_family,
        "window_id": rej.window_id,
        "reasons": list(rej.reasons),
        "details": list(rej.details),
        "raw_output": rej.raw_output,
        "model": rej.model,
        "weights_version": rej.weights_version,
        "intent_id": rej.intent_id,
        "intent_ids": list(rej.intent_ids),
        "intent_text": rej.intent_text,
        "prompt_sha256": rej.prompt_sha256,
        "image_frames": list(rej.image_frames),
        "rewards": [{"name": k, "value": v} for k, v in sorted(rej.rewards.items())],
        "created_at": utc_datetime(rej.created_at),
        **source_cells(src),
        "window_anchors_json": anchors_json(rej.window_anchors),
    }


def row_rejected(row: dict[str, Any]) -> RejectedExample:
    created = row["created_at"]
    source = row_source(row) if row.get("source_topic") is not None else None
    return RejectedExample(
        example_id=row["example_id"],
        task_family=row["task_family"],
        window_id=row["window_id"],
        reasons=list(row["reasons"] or []),
        details=list(row["details"] or []),
        raw_output=row["raw_output"] or "",
        model=row["model"],
        weights_version=row["weights_version"],
        intent_id=row["intent_id"],
        intent_ids=list(row["intent_ids"] or []),
        intent_text=row["intent_text"],
        prompt_sha256=row["prompt_sha256"],
        image_frames=list(row["image_frames"] or []),
        rewards={r["name"]: r["value"] for r in row["rewards"] or []},
        created_at=created.timestamp() if isinstance(created, datetime) else float(created),
        source=source,
        window_anchors=json_anchors(row.get("window_anchors_json")),
    )


def _estimated_bytes(row: dict[str, Any]) -> int:
    texts = (row["raw_output"], row["window_anchors_json"], row["intent_text"] or "", row["window_id"])
    size = 256 + sum(len(t) for t in texts) + 24 * len(row["rewards"])
    return size + sum(len(t) + 8 for t in [*row["reasons"], *row["details"], *row["intent_ids"]])


class RejectedSink(PartitionedSink[RejectedExample]):
    """The rejected table's writer; its config's `root` is the dataset folder (rows go to `root/__rejected`)
    and its writer id should differ from the examples sink's (the stage adds `-rejected`)."""

    name = "parquet_rejected"

    def __init__(self, config: ParquetSinkConfig) -> None:
        super().__init__(
            config.model_copy(update={"root": rejected_root(config.root), "embed_frames": False})
        )

    @cached_property
    def schema(self) -> pa.Schema:
        return rejected_schema()

    def _row(self, record: RejectedExample) -> tuple[Partition, dict[str, Any] | None, int]:
        row = rejected_row(record)
        return partition_of(record.task_family, record.created_at), row, _estimated_bytes(row)


@dataclass(frozen=True)
class StoredRejection:
    rejected: RejectedExample
    path: Path  # the part file that holds it


def iter_rejected(root: Path) -> Iterator[StoredRejection]:
    """Every rejected candidate of the dataset folder `root` once (none when it has no rejected table)."""
    seen: set[str] = set()
    for part in list_parts(rejected_root(root)):
        try:
            file = pq.ParquetFile(part.path)
            if REJECTED_SCHEMA_KEY not in (file.schema_arrow.metadata or {}):
                raise SinkError(
                    "not_a_rejected_table", f"{part.path} is not a part file of the rejected table"
                )
            present = set(file.schema_arrow.names)
            for batch in file.iter_batches(columns=[c for c in REJECTED_COLUMNS if c in present]):
                for row in batch.to_pylist():
                    if row["example_id"] not in seen:
                        seen.add(row["example_id"])
                        yield StoredRejection(row_rejected(row), part.path)
        except (pa.ArrowException, OSError) as err:
            raise SinkError("corrupt_part_file", f"{part.path}: {type(err).__name__}: {err}"[:500]) from None
        except ValueError as err:  # a row that is not a valid RejectedExample (pydantic, JSON)
            raise SinkError("invalid_row", f"{part.path}: {err}"[:500]) from None
