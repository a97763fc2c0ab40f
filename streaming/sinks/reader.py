"""Reading the example dataset back as records (for exports), without the frame bytes.

Rows are deduplicated by example_id (first part file in path order wins), so a dataset touched by a
racing writer still yields each example once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from core.records import Example
from streaming.sinks.layout import list_parts
from streaming.sinks.parquet_schema import COLUMN_NAMES, row_example, row_frame_errors
from streaming.sinks.parquet_sink import SinkError

_BATCH_ROWS = 1024


@dataclass(frozen=True)
class StoredExample:
    example: Example
    frame_errors: list[str]  # reasons of frames that could not be embedded
    path: Path  # the part file that holds it


def iter_stored(root: Path, families: Collection[str] | None = None) -> Iterator[StoredExample]:
    """Every example of the dataset once, optionally only the given task families."""
    if not root.is_dir():
        raise SinkError("no_dataset", f"{root} is not a directory")
    columns = [c for c in COLUMN_NAMES if c != "frames"]
    seen: set[str] = set()
    for part in list_parts(root):
        try:
            file = pq.ParquetFile(part.path)
            present = set(file.schema_arrow.names)  # an older sink schema lacks newer columns (row_example)
            batches = file.iter_batches(batch_size=_BATCH_ROWS, columns=[c for c in columns if c in present])
            for batch in batches:
                for row in batch.to_pylist():
                    if row["example_id"] in seen:
                        continue
                    if families is not None and row["task_family"] not in families:
                        continue
                    seen.add(row["example_id"])
                    yield StoredExample(row_example(row), row_frame_errors(row), part.path)
        except (pa.ArrowException, OSError) as err:
            raise SinkError("corrupt_part_file", f"{part.path}: {type(err).__name__}: {err}"[:500]) from None
        except ValueError as err:  # a row that is not a valid Example (pydantic ValidationError)
            raise SinkError("invalid_row", f"{part.path}: {err}"[:500]) from None


def read_examples(root: Path, families: Collection[str] | None = None) -> list[Example]:
    return [s.example for s in iter_stored(root, families)]
