"""Helpers of the sink tests: examples that point at real key frames, dataset inspection."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from core.records import Anchor, Example, FrameRef, SourceSpan

DAY = 86_400.0
T0 = 1_780_000_000.0  # 2026-05-28 UTC


def make_example(i: int, family: str, frames: list[FrameRef], *, day: int = 0, answer: str = "") -> Example:
    output = {"answer": answer or f"step {i} of {family}", "index": i}
    return Example(
        example_id=f"{family}-{i:04d}",
        task_family=family,
        output_json=json.dumps(output),
        window_id=f"gui:episode-{i // 4}:{i % 4}",
        intent_id="intent-1" if i % 2 else None,
        source=SourceSpan(
            topic="tailor.raw.gui",
            partition=i % 3,
            first_offset=10 * i,
            last_offset=10 * i + 9,
            start_time=float(i),
            end_time=float(i) + 1.5,
        ),
        anchor_ids=[f"a{i}", f"a{i + 1}"],
        frames=frames,
        model="SmolLM2-135M-Instruct",
        weights_version="v3" if i % 2 else None,
        prompt_sha256=hashlib.sha256(f"prompt of {family}".encode()).hexdigest(),
        rewards={"schema_valid": 1.0, "grounding": 0.25 * (i % 4)},
        created_at=T0 + day * DAY + i,
    )


def file_rows(path: Path) -> int:
    return int(pq.ParquetFile(path).metadata.num_rows)


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def with_provenance(example: Example) -> Example:
    """The example as the synthesis step of sink schema 3 publishes it: prompt, intent, anchors in full."""
    prompt = [
        {"role": "system", "content": f"You write {example.task_family} examples as JSON."},
        {"role": "user", "content": f"Window {example.window_id}: what happens next?"},
    ]
    anchors = [
        Anchor(
            anchor_id=a, type="gui_action", frame_index=n, timestamp=n * 0.5, content=f"tap {a}", point=(1, 2)
        )
        for n, a in enumerate(example.anchor_ids)
    ]
    return example.model_copy(
        update={
            "prompt_json": json.dumps(prompt),
            "intent_text": "data for my GUI agent" if example.intent_id else None,
            "family_schema_sha256": hashlib.sha256(example.task_family.encode()).hexdigest(),
            "anchor_set_sha256": hashlib.sha256(example.window_id.encode()).hexdigest(),
            "cited_anchors": anchors,
            # sink schema 6: the window's anchors, here one more than it cites
            "window_anchors": [*anchors, Anchor(anchor_id="idle", type="idle", frame_index=0, timestamp=0.0)],
            "validators": ["FramesInWindow", "FramesAnchored"],
            "min_reward": 0.5,
        }
    )
