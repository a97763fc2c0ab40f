"""The explicit Arrow schema of the example dataset, and Example <-> row conversion.

The schema is fixed (it never depends on the data), so every part file has the same columns whether
frames are embedded or referenced and `datasets` can read all files as one table. The Parquet schema
metadata carries the Hugging Face `datasets` features (key `huggingface`), so `frames` loads as
`List(Image())` and decodes to PIL images without a cast. Rewards are a list of {name, value} structs:
an Arrow map has no `datasets` equivalent, and a struct would change shape with the reward names.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from core.errors import TailorError
from core.records import Anchor, Example, FrameRef, SourceSpan

# 2 (7 Dec): image_frames, the key frames the model saw. 3 (7 Dec): self-contained rows (prompt, intent text,
# family schema hash, anchor set hash, cited anchors in full, validators passed, reward floor), so exports
# and audits need no broker. Part files of 1 to 4 read and compact beside 5 (`conform`, `row_example`).
# 4 (7 Dec): recording and licence of the source recording (dataset cards list them).
# 5 (7 Dec): intent_ids, every intent that asked for the content (one row per distinct content).
# 6 (7 Dec): window_anchors_json, every anchor of the window (content cut short), for the audit timeline.
SINK_SCHEMA_VERSION = 6
SCHEMA_VERSION_KEY = b"tailor.sink_schema_version"
HF_METADATA_KEY = b"huggingface"


class RowError(TailorError, ValueError):
    """An example that cannot become a row; `reason` is a short label."""


@dataclass(frozen=True)
class FrameCell:
    """One key frame of a row: the reference, plus its bytes when embedded or the reason it is not."""

    ref: FrameRef
    data: bytes | None = None
    error: str | None = None


_STR = {"dtype": "string", "_type": "Value"}
_I64 = {"dtype": "int64", "_type": "Value"}
_I32 = {"dtype": "int32", "_type": "Value"}
_F64 = {"dtype": "float64", "_type": "Value"}
_BOOL = {"dtype": "bool", "_type": "Value"}

# (column, arrow type, datasets feature) in column order
_COLUMNS: list[tuple[str, pa.DataType, dict[str, Any]]] = [
    ("example_id", pa.string(), _STR),
    ("task_family", pa.string(), _STR),
    ("output_json", pa.string(), _STR),
    ("window_id", pa.string(), _STR),
    ("intent_id", pa.string(), _STR),
    ("source_topic", pa.string(), _STR),
    ("source_partition", pa.int32(), _I32),
    ("source_first_offset", pa.int64(), _I64),
    ("source_last_offset", pa.int64(), _I64),
    ("source_start_time", pa.float64(), _F64),
    ("source_end_time", pa.float64(), _F64),
    ("anchor_ids", pa.list_(pa.string()), {"feature": _STR, "_type": "List"}),
    ("model", pa.string(), _STR),
    ("weights_version", pa.string(), _STR),
    ("prompt_sha256", pa.string(), _STR),
    ("image_frames", pa.list_(pa.int64()), {"feature": _I64, "_type": "List"}),
    (
        "rewards",
        pa.list_(pa.struct([("name", pa.string()), ("value", pa.float64())])),
        {"feature": {"name": _STR, "value": _F64}, "_type": "List"},
    ),
    ("created_at", pa.timestamp("us", tz="UTC"), {"dtype": "timestamp[us, tz=UTC]", "_type": "Value"}),
    ("prompt_json", pa.string(), _STR),
    ("intent_text", pa.string(), _STR),
    ("family_schema_sha256", pa.string(), _STR),
    ("anchor_set_sha256", pa.string(), _STR),
    # a JSON list of Anchor objects: anchors carry optional nested fields (bbox, point) a struct column
    # would flatten into nulls; the string round-trips them exactly
    ("cited_anchors_json", pa.string(), _STR),
    ("validators_passed", pa.list_(pa.string()), {"feature": _STR, "_type": "List"}),
    ("min_reward", pa.float64(), _F64),
    ("recording", pa.string(), _STR),
    ("licence", pa.string(), _STR),
    # sink schema 5: every intent that asked for this content (older rows: null, read as [intent_id])
    ("intent_ids", pa.list_(pa.string()), {"feature": _STR, "_type": "List"}),
    # sink schema 6: a JSON list of every Anchor of the window (content cut short; older rows: null)
    ("window_anchors_json", pa.string(), _STR),
    (
        "frames",
        pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        {"feature": {"_type": "Image"}, "_type": "List"},
    ),
    (
        "frame_refs",
        pa.list_(
            pa.struct(
                [
                    ("frame_index", pa.int64()),
                    ("timestamp", pa.float64()),
                    ("uri", pa.string()),
                    ("sha256", pa.string()),
                    ("embedded", pa.bool_()),
                    ("error", pa.string()),
                ]
            )
        ),
        {
            "feature": {
                "frame_index": _I64,
                "timestamp": _F64,
                "uri": _STR,
                "sha256": _STR,
                "embedded": _BOOL,
                "error": _STR,
            },
            "_type": "List",
        },
    ),
]

COLUMN_NAMES = [name for name, _, _ in _COLUMNS]


def example_schema() -> pa.Schema:
    """The Arrow schema of every part file, with the `datasets` features in its metadata."""
    features = {name: feature for name, _, feature in _COLUMNS}
    metadata = {
        HF_METADATA_KEY: json.dumps({"info": {"features": features}}).encode(),
        SCHEMA_VERSION_KEY: str(SINK_SCHEMA_VERSION).encode(),
    }
    return pa.schema([pa.field(name, typ) for name, typ, _ in _COLUMNS], metadata=metadata)


def utc_datetime(seconds: float) -> datetime:
    """Unix seconds as an aware UTC datetime (microsecond precision); RowError if out of range."""
    if not math.isfinite(seconds):
        raise RowError("bad_created_at", f"created_at {seconds!r} is not finite")
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise RowError("bad_created_at", f"created_at {seconds!r} is outside the date range") from None


def frame_path(ref: FrameRef) -> str:
    """File name stored in an embedded image cell: the frame's sha256 with the URI's extension."""
    tail = ref.uri.rsplit("/", 1)[-1]
    ext = tail.rsplit(".", 1)[-1] if "." in tail else "bin"
    return f"{ref.sha256}.{ext}"


def example_row(example: Example, cells: list[FrameCell]) -> dict[str, Any]:
    """The row of one example; `cells` are its frames, in the order of `example.frames`."""
    src = example.source
    return {
        "example_id": example.example_id,
        "task_family": example.task_family,
        "output_json": example.output_json,
        "window_id": example.window_id,
        "intent_id": example.intent_id,
        **source_cells(src),
        "anchor_ids": list(example.anchor_ids),
        "model": example.model,
        "weights_version": example.weights_version,
        "prompt_sha256": example.prompt_sha256,
        "image_frames": list(example.image_frames),
        "rewards": [{"name": k, "value": v} for k, v in sorted(example.rewards.items())],
        "created_at": utc_datetime(example.created_at),
        "prompt_json": example.prompt_json,
        "intent_text": example.intent_text,
        "family_schema_sha256": example.family_schema_sha256,
        "anchor_set_sha256": example.anchor_set_sha256,
        "cited_anchors_json": anchors_json(example.cited_anchors),
        "validators_passed": list(example.validators),
        "min_reward": example.min_reward,
        "recording": example.recording,
        "licence": example.licence,
        "intent_ids": list(example.intent_ids),
        "window_anchors_json": anchors_json(example.window_anchors),
        "frames": [{"bytes": c.data, "path": frame_path(c.ref)} for c in cells if c.data is not None],
        "frame_refs": [
            {
                "frame_index": c.ref.frame_index,
                "timestamp": c.ref.timestamp,
                "uri": c.ref.uri,
                "sha256": c.ref.sha256,
                "embedded": c.data is not None,
                "error": c.error,
            }
            for c in cells
        ],
    }


def conform(table: pa.Table) -> pa.Table:
    """A part file's table in the current schema: columns an older sink schema did not have are added empty
    (null lists), so old and new part files merge and read alike."""
    schema = example_schema()
    for name in COLUMN_NAMES:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, schema.field(name).type))
    return table.select(COLUMN_NAMES).cast(schema)


def row_example(row: dict[str, Any]) -> Example:
    """The Example a row was written from (frame bytes are not part of the record)."""
    created = row["created_at"]
    return Example(
        example_id=row["example_id"],
        task_family=row["task_family"],
        output_json=row["output_json"],
        window_id=row["window_id"],
        intent_id=row["intent_id"],
        source=row_source(row),
        anchor_ids=list(row["anchor_ids"] or []),
        frames=[
            FrameRef(frame_index=f["frame_index"], timestamp=f["timestamp"], uri=f["uri"], sha256=f["sha256"])
            for f in row["frame_refs"] or []
        ],
        model=row["model"],
        weights_version=row["weights_version"],
        prompt_sha256=row["prompt_sha256"],
        image_frames=list(row.get("image_frames") or []),  # absent from datasets written before 7 Dec
        rewards={r["name"]: r["value"] for r in row["rewards"] or []},
        created_at=created.timestamp() if isinstance(created, datetime) else float(created),
        # sink schema 3; a row of schema 1 or 2 has none of these (absent or null): the record's defaults
        prompt_json=row.get("prompt_json"),
        intent_text=row.get("intent_text"),
        family_schema_sha256=row.get("family_schema_sha256"),
        anchor_set_sha256=row.get("anchor_set_sha256"),
        cited_anchors=json_anchors(row.get("cited_anchors_json")),
        validators=list(row.get("validators_passed") or []),
        min_reward=row.get("min_reward"),
        recording=row.get("recording"),  # sink schema 4
        licence=row.get("licence"),
        # sink schema 5; an older row names only the one intent it was made for
        intent_ids=_intent_ids(row),
        window_anchors=json_anchors(row.get("window_anchors_json")),  # sink schema 6
    )


SOURCE_FIELDS = ("topic", "partition", "first_offset", "last_offset", "start_time", "end_time")


def source_cells(src: SourceSpan | None) -> dict[str, Any]:
    """A source span as the `source_*` columns (all None without one: older rejected records)."""
    return {f"source_{name}": getattr(src, name) if src else None for name in SOURCE_FIELDS}


def row_source(row: dict[str, Any]) -> SourceSpan:
    return SourceSpan(**{name: row[f"source_{name}"] for name in SOURCE_FIELDS})


def anchors_json(anchors: list[Anchor]) -> str:
    """Anchors as a JSON list: they carry optional nested fields (bbox, point) a struct column would flatten."""
    return json.dumps([a.model_dump(mode="json") for a in anchors])


def json_anchors(text: str | None) -> list[Anchor]:
    return [Anchor.model_validate(a) for a in json.loads(text or "[]")]


def _intent_ids(row: dict[str, Any]) -> list[str]:
    """The row's intent_ids; a row older than sink schema 5 (none, or null) names the one intent it was made for."""
    ids = row.get("intent_ids")
    if ids is None:
        return [row["intent_id"]] if row["intent_id"] else []
    return list(ids)


def row_frame_errors(row: dict[str, Any]) -> list[str]:
    return [f["error"] for f in row.get("frame_refs") or [] if f.get("error")]


def estimated_bytes(row: dict[str, Any]) -> int:
    """Uncompressed size of a row (an upper bound of its share of a part file, near enough)."""
    size = 256 + len(row["output_json"]) + len(row["example_id"]) + len(row["window_id"])
    size += len(row["prompt_json"] or "") + len(row["intent_text"] or "") + len(row["cited_anchors_json"])
    size += len(row["window_anchors_json"])
    size += sum(len(a) + 8 for a in [*row["anchor_ids"], *row["intent_ids"]]) + 24 * len(row["rewards"])
    size += sum(len(f["bytes"]) + len(f["path"]) for f in row["frames"])
    size += sum(len(f["uri"]) + 100 for f in row["frame_refs"])
    return size
