"""ParquetSink on real files: datasets round trip, layout, rotation, frame checks.

Idempotence (repeats, restarts, crashes) is in test_sink_replay.
"""

from __future__ import annotations

import io
from operator import attrgetter
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from core.blobstore import BlobStore
from core.records import FrameRef
from streaming.sinks.frames import EmbeddedFrames
from streaming.sinks.parquet_schema import example_schema
from streaming.sinks.parquet_sink import ParquetSink, SinkError
from streaming.sinks.parquet_sink_config import ParquetSinkConfig
from streaming.sinks.reader import read_examples
from tests.streaming.sinks.conftest import RealFrame
from tests.streaming.sinks.sink_helpers import DAY, T0, file_rows, make_example, tree


def load(root: Path, cache: str) -> datasets.Dataset:
    ds = datasets.load_dataset("parquet", data_dir=str(root), split="train", cache_dir=cache)
    assert isinstance(ds, datasets.Dataset)
    return ds


def sink(root: Path, store: BlobStore | None, **kw: Any) -> ParquetSink:
    return ParquetSink(ParquetSinkConfig(root=root, writer_id="w1", **kw), store).open()


def test_embedded_frames_load_as_images_of_the_right_size(
    tmp_path: Path,
    frame_store: BlobStore,
    frame_refs: list[FrameRef],
    real_frames: list[RealFrame],
    hf_cache: str,
) -> None:
    root = tmp_path / "ds"
    families = ["gui_next_action", "robot_subtask", "gui_next_action", "video_qa", "robot_subtask"]
    examples = [make_example(i, fam, frame_refs[i % 5 : i % 5 + 3]) for i, fam in enumerate(families)]
    s = sink(root, frame_store)
    assert s.add(examples) == 5
    assert s.buffered_rows == 5 and tree(root) == []  # nothing on disk before flush
    written = s.flush()
    assert len(written) == 3 and s.buffered_rows == 0 and s.stats.rows_written == 5

    ds = load(root, hf_cache)
    assert len(ds) == 5
    assert ds.features["frames"] == datasets.List(datasets.Image())  # recognised without a cast
    by_id = {row["example_id"]: row for row in ds}
    for i, ex in enumerate(examples):
        row = by_id[ex.example_id]
        assert len(row["frames"]) == 3
        for img, ref, k in zip(row["frames"], row["frame_refs"], range(i % 5, i % 5 + 3)):
            assert isinstance(img, Image.Image)
            assert img.size == (real_frames[k].width, real_frames[k].height)
            original = np.asarray(Image.open(io.BytesIO(real_frames[k].data)).convert("RGB"))
            assert np.array_equal(np.asarray(img.convert("RGB")), original)
            assert ref["embedded"] and ref["error"] is None and ref["sha256"] == frame_refs[k].sha256
        assert row["rewards"] == [
            {"name": "grounding", "value": 0.25 * (i % 4)},
            {"name": "schema_valid", "value": 1.0},
        ]
        assert row["created_at"].timestamp() == ex.created_at
        assert row["source_first_offset"] == ex.source.first_offset and row["anchor_ids"] == ex.anchor_ids
    # the records come back exactly (frame bytes are not part of the record)
    key = attrgetter("example_id")
    assert sorted(read_examples(root), key=key) == sorted(examples, key=key)


def test_referenced_frames_keep_uri_and_sha256_without_a_store(
    tmp_path: Path, frame_refs: list[FrameRef], hf_cache: str
) -> None:
    root = tmp_path / "ds"
    s = sink(root, None, embed_frames=False)
    assert s.add([make_example(i, "video_qa", frame_refs[:4]) for i in range(3)]) == 3
    (path,) = s.flush()
    assert pq.read_schema(path) == example_schema()  # same columns as the embedded form
    ds = load(root, hf_cache)
    for row in ds:
        assert row["frames"] == []
        assert [(f["uri"], f["sha256"], f["embedded"]) for f in row["frame_refs"]] == [
            (r.uri, r.sha256, False) for r in frame_refs[:4]
        ]


def test_embedding_needs_a_frame_store(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="no_frame_store"):
        sink(tmp_path / "ds", None)


def test_partition_layout_by_family_and_utc_date(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef], hf_cache: str
) -> None:
    root = tmp_path / "ds"
    s = sink(root, frame_store)
    where = [
        ("gui_next_action", 0),
        ("gui_next_action", 1),
        ("robot_subtask", 0),
        ("gui/next action", 0),
        ("gui_next_action", 0),
    ]
    examples = [make_example(i, fam, frame_refs[:1], day=day) for i, (fam, day) in enumerate(where)]
    assert s.add(examples) == 5
    s.flush()
    assert tree(root) == [
        "task_family=gui%2Fnext%20action/date=2026-05-28/part-w1-00000000.parquet",
        "task_family=gui_next_action/date=2026-05-28/part-w1-00000001.parquet",
        "task_family=gui_next_action/date=2026-05-29/part-w1-00000002.parquet",
        "task_family=robot_subtask/date=2026-05-28/part-w1-00000003.parquet",
    ]
    assert file_rows(root / "task_family=gui_next_action/date=2026-05-28/part-w1-00000001.parquet") == 2
    ds = load(root, hf_cache)
    assert sorted(ds["task_family"]) == sorted(e.task_family for e in examples)
    assert "date" not in ds.column_names  # the partition key is not added as a column


def test_bad_examples_are_dropped_with_a_reason(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]
) -> None:
    s = sink(tmp_path / "ds", frame_store)
    good = make_example(0, "qa", frame_refs[:1])
    no_family = make_example(1, "qa", []).model_copy(update={"task_family": ""})
    far_future = make_example(2, "qa", []).model_copy(update={"created_at": 1e18})
    assert s.add([no_family, far_future, good]) == 1
    assert s.stats.dropped == {"empty_partition_value": 1, "bad_created_at": 1}
    assert len(s.flush()) == 1


def test_rows_arrow_refuses_are_dropped_without_losing_the_others(tmp_path: Path) -> None:
    s = sink(tmp_path / "ds", None, embed_frames=False)
    lone_surrogate = make_example(1, "qa", []).model_copy(update={"output_json": '{"a": "\ud800"}'})
    assert s.add([make_example(0, "qa", []), lone_surrogate, make_example(2, "qa", [])]) == 3
    s.add([make_example(3, "robot_subtask", []).model_copy(update={"window_id": "\udfff"})])
    (path,) = s.flush()  # the robot_subtask partition had nothing left to write
    assert s.stats.dropped == {"arrow_conversion": 2} and s.buffered_rows == 0
    assert [e.example_id for e in read_examples(tmp_path / "ds")] == ["qa-0000", "qa-0002"]


def test_size_rotation_closes_files_at_max_file_bytes(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef], real_frames: list[RealFrame]
) -> None:
    root = tmp_path / "ds"
    assert len(real_frames[0].data) == 9534  # the first AITW screenshot; every row carries it
    limit = 56_000  # 3 such rows plus the footer fit, 4 do not
    s = sink(root, frame_store, max_file_bytes=limit)
    examples = [make_example(i, "gui_next_action", frame_refs[:1]) for i in range(10)]
    s.add(examples[:7])
    assert s.stats.files_written == 2 and s.buffered_rows == 1  # written on add, before any flush
    s.add(examples[7:])
    s.flush()
    parts = sorted(root.rglob("part-*.parquet"))
    assert [file_rows(p) for p in parts] == [3, 3, 3, 1]
    for p in parts:
        assert p.stat().st_size <= limit
    assert {e.example_id for e in read_examples(root)} == {e.example_id for e in examples}


def test_a_row_larger_than_max_file_bytes_gets_a_file_of_its_own(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]
) -> None:
    root = tmp_path / "ds"
    s = sink(root, frame_store, max_file_bytes=30_000)
    s.add([make_example(0, "qa", []), make_example(1, "qa", frame_refs[1:2]), make_example(2, "qa", [])])
    assert s.stats.files_written == 2 and s.buffered_rows == 1  # [0] closed early, [1] alone (78 kB frame)
    s.flush()
    assert [file_rows(p) for p in sorted(root.rglob("part-*.parquet"))] == [1, 1, 1]


def test_time_rotation_writes_buffers_older_than_max_file_age(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]
) -> None:
    root = tmp_path / "ds"
    s = sink(root, frame_store, max_file_age_s=30.0)
    s.add(
        [make_example(0, "gui_next_action", frame_refs[:1]), make_example(1, "gui_next_action", [])],
        now=100.0,
    )
    s.add([make_example(2, "robot_subtask", [])], now=120.0)
    s.add([make_example(3, "gui_next_action", [])], now=125.0)  # joins the older buffer: its age counts
    assert s.maybe_rotate(now=129.9) == []
    (first,) = s.maybe_rotate(now=130.0)
    assert "task_family=gui_next_action" in str(first) and file_rows(first) == 3
    assert s.maybe_rotate(now=149.0) == []
    (second,) = s.maybe_rotate(now=150.0)
    assert "task_family=robot_subtask" in str(second)
    assert s.flush() == [] and s.buffered_rows == 0


def corrupt(store_root: Path, ref: FrameRef, data: bytes) -> None:
    (store_root / ref.sha256[:2] / ref.uri.rsplit("/", 1)[-1]).write_bytes(data)


def test_frame_with_a_hash_mismatch_is_not_embedded_and_is_flagged(
    tmp_path: Path,
    frame_store: BlobStore,
    frame_refs: list[FrameRef],
    real_frames: list[RealFrame],
    hf_cache: str,
) -> None:
    root = tmp_path / "ds"
    corrupt(tmp_path / "frames", frame_refs[1], real_frames[2].data)  # a real image, but not the one hashed
    s = sink(root, frame_store)
    assert s.add([make_example(0, "gui_next_action", frame_refs[:3])]) == 1
    assert s.stats.frame_errors == {"blob_hash_mismatch": 1}
    s.flush()
    (row,) = load(root, hf_cache)
    assert [f["error"] for f in row["frame_refs"]] == [None, "blob_hash_mismatch", None]
    assert [f["embedded"] for f in row["frame_refs"]] == [True, False, True]
    assert [img.size for img in row["frames"]] == [(270, 600), (270, 600)]  # frames 0 and 2 only


def test_drop_policy_refuses_examples_with_a_bad_frame(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]
) -> None:
    not_image = frame_store.put(b'{"this": "is json, not an image"}', "image/png")
    assert not_image.uri is not None and not_image.sha256 is not None
    bad = FrameRef(frame_index=0, timestamp=0.0, uri=not_image.uri, sha256=not_image.sha256)
    gone = frame_refs[0].uri.replace(frame_refs[0].sha256, "0" * 64)
    missing = FrameRef(frame_index=1, timestamp=0.1, uri=gone, sha256="0" * 64)
    elsewhere = (tmp_path / "elsewhere.png").as_uri()
    outside = FrameRef(frame_index=2, timestamp=0.2, uri=elsewhere, sha256="1" * 64)
    s = sink(tmp_path / "ds", frame_store, frame_error_policy="drop_example")
    n = s.add(
        [
            make_example(0, "qa", [bad]),
            make_example(1, "qa", [missing]),
            make_example(2, "qa", [outside]),
            make_example(3, "qa", frame_refs[:1]),
        ]
    )
    assert n == 1
    assert s.stats.dropped == {"frame_not_image": 1, "blob_missing": 1, "uri_outside_roots": 1}
    assert s.flush() and [e.example_id for e in read_examples(tmp_path / "ds")] == ["qa-0003"]


def test_a_frame_of_another_format_than_its_name_is_not_embedded(
    frame_store: BlobStore, real_frames: list[RealFrame]
) -> None:
    """The real AITW screenshot re-encoded as TIFF and stored as image/png: only the PNG plug-in may read a
    .png frame (before, any format Pillow knows was embedded)."""
    png = next(f for f in real_frames if f.media_type == "image/png")
    buf = io.BytesIO()
    Image.open(io.BytesIO(png.data)).save(buf, format="TIFF")
    policy = EmbeddedFrames(frame_store, max_bytes=1 << 24, max_pixels=1 << 24)
    cells = []
    for data in (png.data, buf.getvalue()):
        ref = frame_store.put(data, "image/png")
        assert ref.uri is not None and ref.sha256 is not None
        cells.append(policy.cell(FrameRef(frame_index=0, timestamp=0.0, uri=ref.uri, sha256=ref.sha256)))
    assert [c.error for c in cells] == [None, "frame_not_image"]


def test_corrupt_part_file_is_a_clear_error(tmp_path: Path, frame_store: BlobStore) -> None:
    bad = tmp_path / "ds" / "task_family=qa" / "date=2026-05-28" / "part-other-00000000.parquet"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(SinkError, match="corrupt_part_file"):
        sink(tmp_path / "ds", frame_store)


def test_day_boundary_uses_utc(tmp_path: Path, frame_store: BlobStore) -> None:
    s = sink(tmp_path / "ds", frame_store)
    midnight = 1_780_012_800.0  # 2026-05-29 00:00:00 UTC
    s.add(
        [
            make_example(0, "qa", []).model_copy(update={"created_at": midnight - 0.5}),
            make_example(1, "qa", []).model_copy(update={"created_at": midnight}),
        ]
    )
    s.flush()
    assert [p.split("/")[1] for p in tree(tmp_path / "ds")] == ["date=2026-05-28", "date=2026-05-29"]
    assert T0 < midnight < T0 + DAY


def test_context_manager_flushes_on_normal_exit_only(tmp_path: Path) -> None:
    config = ParquetSinkConfig(root=tmp_path / "ds", writer_id="w1", embed_frames=False)
    with ParquetSink(config, None) as s:
        s.add([make_example(0, "qa", [])])
    assert len(read_examples(tmp_path / "ds")) == 1
    with pytest.raises(RuntimeError, match="worker stopped"):
        with ParquetSink(config, None) as s:
            s.add([make_example(1, "qa", [])])
            raise RuntimeError("worker stopped")
    assert len(read_examples(tmp_path / "ds")) == 1  # not flushed: its offsets were never committed
