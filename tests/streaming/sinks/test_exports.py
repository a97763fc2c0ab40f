"""SFT and preference exports: from the real Parquet dataset to JSONL that datasets and TRL accept."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import datasets
import pytest
from trl.data_utils import is_conversational

from core.blobstore import BlobStore
from core.records import Example, Feedback, FrameRef
from streaming.sinks.exports import (
    ExportError,
    Message,
    export_dataset,
    export_examples,
    frame_paths,
    load_pairs,
)
from streaming.sinks.exports_config import ExportConfig
from streaming.sinks.parquet_sink import ParquetSink
from streaming.sinks.parquet_sink_config import ParquetSinkConfig
from tests.streaming.sinks.sink_helpers import make_example


def prompt_for(example: Example) -> list[Message]:
    """Stands in for the prompt builder of the extraction stage: depends on family and window only."""
    return [
        {"role": "system", "content": f"You write {example.task_family} examples as JSON."},
        {"role": "user", "content": f"Window {example.window_id}: what happens next?"},
    ]


def candidates(frame_refs: list[FrameRef]) -> list[Example]:
    """Two windows, two candidate outputs each (same prompt), plus one odd example out."""
    out = []
    for w in range(2):
        for c in range(2):
            ex = make_example(10 * w + c, "gui_next_action", frame_refs[w : w + 2], answer=f"tap {w}-{c}")
            out.append(ex.model_copy(update={"window_id": f"gui:episode-{w}:0"}))
    out.append(make_example(99, "robot_subtask", frame_refs[4:5]))
    return out


@pytest.fixture
def dataset(tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]) -> Path:
    root = tmp_path / "ds"
    sink = ParquetSink(ParquetSinkConfig(root=root, writer_id="w1"), frame_store).open()
    sink.add(candidates(frame_refs))
    sink.flush()
    return root


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sft_export_is_chat_jsonl_that_datasets_loads(dataset: Path, tmp_path: Path, hf_cache: str) -> None:
    out = tmp_path / "exports" / "sft.jsonl"
    stats = export_dataset(ExportConfig(dataset_dir=dataset, out=out, format="sft"), prompt_for)
    assert stats.written == 5 and not stats.skipped
    by_id = {e.example_id: e for e in candidates([])}
    ds = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=hf_cache)
    assert set(ds.column_names) == {"messages", "example_id", "task_family"}
    for row in ds:
        ex = by_id[row["example_id"]]
        assert is_conversational(row)
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert row["messages"][:2] == prompt_for(ex)
        assert row["messages"][2]["content"] == ex.output_json and row["task_family"] == ex.task_family
    robot = ExportConfig(dataset_dir=dataset, out=out, format="sft", task_families=["robot_subtask"])
    only = export_dataset(robot, prompt_for)
    assert only.written == 1 and [r["example_id"] for r in read_jsonl(out)] == ["robot_subtask-0099"]
    assert [p.name for p in out.parent.iterdir()] == ["sft.jsonl"]  # replaced in place, no temporaries left


def test_preference_export_pairs_examples_that_share_a_prompt(
    dataset: Path, tmp_path: Path, hf_cache: str
) -> None:
    a0, a1, b0, b1 = (f"gui_next_action-{n:04d}" for n in (0, 1, 10, 11))
    pairs = [(a1, a0), (b0, b1), (a1, a0), (a0, "nope"), (a0, a0), (a0, b0), (a0, "robot_subtask-0099")]
    out = tmp_path / "pref.jsonl"
    stats = export_dataset(ExportConfig(dataset_dir=dataset, out=out, format="preference"), prompt_for, pairs)
    assert stats.written == 2
    assert stats.skipped == {
        "duplicate_pair": 1,
        "unknown_example": 1,
        "same_example": 1,
        "prompt_mismatch": 2,
    }
    ds = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=hf_cache)
    first = ds[0]
    assert is_conversational(first)
    assert first["prompt"] == [
        {"role": "system", "content": "You write gui_next_action examples as JSON."},
        {"role": "user", "content": "Window gui:episode-0:0: what happens next?"},
    ]
    assert json.loads(first["chosen"][0]["content"])["answer"] == "tap 0-1"
    assert json.loads(first["rejected"][0]["content"])["answer"] == "tap 0-0"
    assert first["chosen"][0]["role"] == first["rejected"][0]["role"] == "assistant"
    assert (first["chosen_id"], first["rejected_id"]) == (a1, a0)


def test_identical_outputs_and_bad_prompts_are_skipped_and_counted(tmp_path: Path) -> None:
    base = make_example(0, "qa", [])
    same = base.model_copy(update={"example_id": "qa-copy"})
    stats = export_examples(
        [base, same], prompt_for, "preference", tmp_path / "p.jsonl", pairs=[("qa-copy", "qa-0000")]
    )
    assert stats.written == 0 and stats.skipped == {"identical_outputs": 1}

    def flaky(example: Example) -> list[Message]:
        if example.example_id.endswith("1"):
            raise RuntimeError("template missing")
        if example.example_id.endswith("2"):
            return [{"role": "user", "content": "q"}, {"role": "assistant", "content": "already answered"}]
        return prompt_for(example)

    examples = [make_example(i, "qa", []) for i in range(3)]
    stats = export_examples(examples, flaky, "sft", tmp_path / "s.jsonl")
    assert stats.written == 1 and stats.skipped == {"prompt_error": 1, "bad_prompt": 1}
    with pytest.raises(ExportError, match="no_pairs"):
        export_examples(examples, prompt_for, "preference", tmp_path / "p.jsonl")


def test_frames_that_failed_to_embed_keep_their_example_out_of_exports(
    tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]
) -> None:
    broken = frame_refs[2]
    (tmp_path / "frames" / broken.sha256[:2] / broken.uri.rsplit("/", 1)[-1]).write_bytes(b"tampered")
    root = tmp_path / "ds"
    sink = ParquetSink(ParquetSinkConfig(root=root, writer_id="w1"), frame_store).open()
    sink.add([make_example(0, "qa", frame_refs[:2]), make_example(1, "qa", frame_refs[1:3])])
    sink.flush()
    out = tmp_path / "sft.jsonl"
    stats = export_dataset(ExportConfig(dataset_dir=root, out=out, format="sft"), prompt_for)
    assert stats.written == 1 and stats.skipped == {"frame_error": 1}
    keep = ExportConfig(dataset_dir=root, out=out, format="sft", skip_frame_errors=False)
    kept = export_dataset(keep, prompt_for)
    assert kept.written == 2


def test_images_are_local_paths_of_the_key_frames(
    dataset: Path, tmp_path: Path, frame_refs: list[FrameRef]
) -> None:
    out = tmp_path / "sft.jsonl"
    export_dataset(ExportConfig(dataset_dir=dataset, out=out, format="sft", include_images=True), prompt_for)
    for record in read_jsonl(out):
        assert len(record["images"]) in (1, 2)
        for path in record["images"]:
            assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == Path(path).stem
    assert frame_paths(make_example(0, "qa", frame_refs[:1]))[0].startswith(str(tmp_path))


def test_pairs_file_takes_feedback_records_and_plain_pairs(tmp_path: Path) -> None:
    fb = Feedback(feedback_id="f1", kind="preference", chosen_id="a", rejected_id="b", created_at=1.0)
    metric = Feedback(feedback_id="f2", kind="batch_metric", metric="acc", value=0.5, created_at=1.0)
    path = tmp_path / "pairs.jsonl"
    plain = b'{"chosen_id": "c", "rejected_id": "d"}\n'
    path.write_bytes(fb.to_bytes() + b"\n" + metric.to_bytes() + b"\n\n" + plain)
    assert load_pairs(path, 1 << 20) == [("a", "b"), ("c", "d")]
    path.write_bytes(b'{"chosen_id": "c"}\n')
    with pytest.raises(ExportError, match="invalid_pair"):
        load_pairs(path, 1 << 20)
    path.write_bytes(b'{"kind": "preference", "chosen_id": "c"}\n')
    with pytest.raises(ExportError, match="schema_mismatch"):
        load_pairs(path, 1 << 20)
    with pytest.raises(ExportError, match="pairs_file_too_large"):
        load_pairs(path, 10)


def test_filters_select_by_intent_weights_time_and_reward_and_count_the_rest() -> None:
    from datetime import UTC, datetime

    from pydantic import ValidationError

    from streaming.sinks.export_select import filtered_by
    from tests.streaming.sinks.sink_helpers import T0

    examples = [make_example(i, "qa", []) for i in range(4)]  # odd: intent-1 and weights v3; even: neither

    def selected(**filters: Any) -> list[int]:
        config = ExportConfig(dataset_dir=Path("."), out=Path("o"), format="sft", **filters)
        return [i for i, e in enumerate(examples) if filtered_by(e, config) is None]

    assert selected(intent_ids=[""]) == [0, 2] and selected(intent_ids=["intent-1"]) == [1, 3]
    assert selected(weights_versions=["base"]) == [0, 2] and selected(weights_versions=["v3", "base"]) == [
        0,
        1,
        2,
        3,
    ]
    t1 = datetime.fromtimestamp(T0 + 1, tz=UTC)
    assert selected(created_after=t1) == [1, 2, 3] and selected(created_before=t1) == [0]
    assert selected(created_after=t1.replace(tzinfo=None)) == [1, 2, 3]  # no zone: UTC, not the machine's
    assert selected(min_reward=0.5, reward_term="grounding") == [2, 3]  # grounding = 0.25 * (i % 4)
    assert selected(min_reward=0.0) == []  # no r_total term: cannot be shown to clear the bar
    config = ExportConfig(dataset_dir=Path("."), out=Path("o"), format="sft", intent_ids=["x"], min_reward=9)
    assert filtered_by(examples[0], config) == "intent"  # counted under the first filter it fails
    with pytest.raises(ValidationError, match="empty time range"):
        ExportConfig(dataset_dir=Path("."), out=Path("o"), format="sft", created_after=t1, created_before=t1)


def test_a_stored_prompt_wins_over_the_builder_and_a_broken_one_is_counted(tmp_path: Path) -> None:
    from tests.streaming.sinks.sink_helpers import with_provenance

    stored = with_provenance(make_example(0, "qa", []))
    broken = with_provenance(make_example(1, "qa", [])).model_copy(update={"prompt_json": "{not json"})
    old = make_example(2, "qa", [])  # sink schema 2: no stored prompt
    out = tmp_path / "s.jsonl"

    def other(example: Example) -> list[Message]:
        return [{"role": "user", "content": "rebuilt"}]

    stats = export_examples([stored, broken, old], other, "sft", out)
    assert stats.written == 2 and stats.skipped == {"bad_stored_prompt": 1}
    rows = {r["example_id"]: r["messages"][:-1] for r in read_jsonl(out)}
    assert rows == {"qa-0000": json.loads(stored.prompt_json or ""), "qa-0002": other(old)}
    none = export_examples([stored, old], None, "sft", out)
    assert none.written == 1 and none.skipped == {"no_stored_prompt": 1}
