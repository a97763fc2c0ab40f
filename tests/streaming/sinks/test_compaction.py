"""Compaction of small part files: fewer files, same rows; a crash mid-way neither loses nor duplicates."""

from __future__ import annotations

import shutil
from pathlib import Path

import datasets
import pyarrow.parquet as pq

from core.blobstore import BlobStore
from core.records import FrameRef
from streaming.sinks.compaction import Compactor
from streaming.sinks.layout import list_parts
from streaming.sinks.parquet_sink import ParquetSink
from streaming.sinks.parquet_sink_config import ParquetSinkConfig
from streaming.sinks.reader import read_examples
from tests.streaming.sinks.sink_helpers import file_rows, make_example, tree, with_provenance

DAY0, DAY1 = "task_family=qa/date=2026-05-28", "task_family=qa/date=2026-05-29"


def small_files(root: Path, store: BlobStore, refs: list[FrameRef], writer: str = "w1") -> ParquetSink:
    """A worker that committed after every example: one part file per example."""
    sink = ParquetSink(ParquetSinkConfig(root=root, writer_id=writer), store).open()
    for i in range(8):
        sink.add([make_example(i, "qa", refs[i % 4 : i % 4 + 1], day=1 if i >= 6 else 0)])
        sink.flush()
    return sink


def test_compaction_merges_a_writers_small_files_of_past_days(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef], hf_cache: str
) -> None:
    root = tmp_path / "ds"
    small_files(root, frame_store, frame_refs)
    other = ParquetSink(ParquetSinkConfig(root=root, writer_id="other"), frame_store).open()
    other.add([make_example(51, "qa", [])])
    other.flush()
    assert len(tree(root)) == 9

    result = Compactor(ParquetSinkConfig(root=root, writer_id="w1")).compact(before_date="2026-05-29")
    assert len(result.written) == 1 and len(result.removed) == 6 and result.recovered == []
    day0 = [p for p in tree(root) if p.startswith(DAY0)]
    assert day0 == [f"{DAY0}/part-other-00000000.parquet", f"{DAY0}/part-w1-00000008.parquet"]
    assert file_rows(root / day0[1]) == 6
    assert len([p for p in tree(root) if p.startswith(DAY1)]) == 2  # today's partition is left alone

    ds = datasets.load_dataset("parquet", data_dir=str(root), split="train", cache_dir=hf_cache)
    assert sorted(ds["example_id"]) == [f"qa-{i:04d}" for i in [*range(8), 51]]
    assert all(len(row["frames"]) == 1 for row in ds if row["example_id"] != "qa-0051")
    # a restarted sink still knows every id and numbers its files after the merged one
    sink = ParquetSink(ParquetSinkConfig(root=root, writer_id="w1"), frame_store).open()
    assert sink.add([make_example(i, "qa", [], day=0) for i in range(9)]) == 1
    (path,) = sink.flush()
    assert path.name == "part-w1-00000009.parquet"


def test_interrupted_compaction_is_finished_by_the_next_run(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]
) -> None:
    root = tmp_path / "ds"
    small_files(root, frame_store, frame_refs)
    saved = tmp_path / "saved"
    shutil.copytree(root, saved)
    Compactor(ParquetSinkConfig(root=root, writer_id="w1")).compact(before_date="2026-05-29")
    # the state a crash after publishing the merged file but before deleting its sources leaves
    restored = [root / DAY0 / n for n in ("part-w1-00000000.parquet", "part-w1-00000003.parquet")]
    for path in restored:
        shutil.copy(saved / DAY0 / path.name, path)
    assert len(read_examples(root)) == 8  # readers deduplicate meanwhile
    assert sum(file_rows(p.path) for p in list_parts(root)) == 10

    result = Compactor(ParquetSinkConfig(root=root, writer_id="w1")).compact(before_date="2026-05-29")
    assert sorted(result.recovered) == restored
    assert sum(file_rows(p.path) for p in list_parts(root)) == 8


def test_a_reused_name_with_other_rows_is_never_deleted(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]
) -> None:
    root = tmp_path / "ds"
    small_files(root, frame_store, frame_refs)
    Compactor(ParquetSinkConfig(root=root, writer_id="w1")).compact(before_date="2026-05-29")
    # someone deleted files by hand and a later file got an old name: it holds rows the merged file lacks
    stranger = root / DAY0 / "part-w1-00000001.parquet"
    shutil.copy(root / DAY1 / "part-w1-00000006.parquet", stranger)
    result = Compactor(ParquetSinkConfig(root=root, writer_id="w1")).compact(before_date="2026-05-28")
    assert result.recovered == [] and stranger.exists()


def test_part_files_of_the_first_sink_schema_read_and_compact_with_new_ones(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]
) -> None:
    """Schema 2 added image_frames; a dataset written before it keeps working beside new part files."""
    root = tmp_path / "ds"
    small_files(root, frame_store, frame_refs)
    for part in list_parts(root)[:4]:  # what schema 1 wrote: the same table without the new column
        table = pq.read_table(part.path, partitioning=None)
        pq.write_table(table.drop_columns(["image_frames"]), part.path)
    seen = make_example(60, "qa", [], day=0).model_copy(update={"image_frames": [0, 3]})
    new = ParquetSink(ParquetSinkConfig(root=root, writer_id="w2"), frame_store).open()
    new.add([seen])
    new.flush()

    examples = {e.example_id: e for e in read_examples(root)}
    assert len(examples) == 9 and examples["qa-0060"].image_frames == [0, 3]
    assert examples["qa-0000"].image_frames == []
    Compactor(ParquetSinkConfig(root=root, writer_id="w1")).compact(before_date="2026-05-29")
    assert {e.example_id: e.image_frames for e in read_examples(root)} == {
        e.example_id: e.image_frames for e in examples.values()
    }


SCHEMA_3_COLUMNS = [
    "prompt_json",
    "intent_text",
    "family_schema_sha256",
    "anchor_set_sha256",
    "cited_anchors_json",
    "validators_passed",
    "min_reward",
]


def test_part_files_of_sink_schemas_1_and_2_read_and_compact_with_schema_3(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]
) -> None:
    """Schema 3 made rows self-contained (prompt, intent text, anchors in full...); files of schema 1 (no
    image_frames) and 2 (no schema-3 columns) keep reading and merge with schema-3 files."""
    root = tmp_path / "ds"
    small_files(root, frame_store, frame_refs)
    parts = list_parts(root)
    for n, part in enumerate(parts[:4]):
        table = pq.read_table(part.path, partitioning=None).drop_columns(SCHEMA_3_COLUMNS)
        pq.write_table(table.drop_columns(["image_frames"]) if n < 2 else table, part.path)
    full = with_provenance(make_example(61, "qa", [], day=0))
    new = ParquetSink(ParquetSinkConfig(root=root, writer_id="w2"), frame_store).open()
    new.add([full])
    new.flush()
    assert pq.read_schema(list_parts(root)[-1].path).metadata[b"tailor.sink_schema_version"] == b"6"

    examples = {e.example_id: e for e in read_examples(root)}
    assert len(examples) == 9 and examples["qa-0061"] == full  # every schema-3 field round-trips
    assert examples["qa-0061"].cited_anchors[0].point == (1.0, 2.0) and len(full.window_anchors) > 1
    old = examples["qa-0000"]
    assert (
        old.prompt_json is None
        and old.cited_anchors == []
        and old.validators == []
        and old.min_reward is None
    )
    merged = Compactor(ParquetSinkConfig(root=root, writer_id="w1")).compact(before_date="2026-05-29")
    assert len(merged.removed) == 6  # schema 1, 2 and 3 files of day 0, in one file
    assert {e.example_id: e for e in read_examples(root)} == examples
