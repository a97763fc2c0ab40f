"""`tailor export` from the Parquet dataset alone: rows of sink schema 3 carry their prompts, so SFT,
preference and GRPO exports work with the broker down (kafka_bootstrap points at a closed port), with
filters; rows of older schemas are skipped and counted when no broker answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agents.anchoring_steps import RobotAnchoring
from agents.extractors.robot.pipeline import RobotExpertPipeline
from agents.synthesis.base import Generation
from agents.synthesis_step import judge
from agents.tasks.base import SynthesisContext, TaskFamily, TaskSpec, registry
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.ports import free_port
from core.records import AnchorSet, Example
from streaming.settings import TailorSettings
from streaming.sinks.exports_config import ExportConfig
from streaming.sinks.parquet_sink import ParquetSink
from streaming.sinks.parquet_sink_config import ParquetSinkConfig
from tests.agents.tasks.helpers import BRIDGE, anchor_set, records

REPO = Path(__file__).resolve().parents[3]
FAMILY = "world_model_sample"
INTENT, OTHER_INTENT = "i-robot", "i-other"
DAY = 86_400.0


@dataclass(frozen=True)
class Written:
    root: Path
    family: TaskFamily
    contexts: dict[tuple[str, str], SynthesisContext]  # (window_id, intent_id) -> what the step was given
    chosen: dict[str, str]  # window_id -> id of the rule output (weights v3)
    rejected: dict[str, str]  # window_id -> id of the reworded output (weights v3)
    others: list[str]  # ids of the rules backend's examples for OTHER_INTENT
    old_day: str  # the window whose examples were created a day earlier


def reworded(text: str) -> str:
    """The rule output with other words in its motion plan: still valid and grounded, a different example."""
    data = json.loads(text)
    for step in data["motion_plan"]:
        step["description"] = "the arm " + step["description"]
    return json.dumps(data)


def accepted(
    family: TaskFamily, ctx: SynthesisContext, texts: list[str], model: str, version: str | None
) -> list[Example]:
    step = judge(family, ctx, Generation(texts=texts, model=model, weights_version=version))
    assert len(step.accepted) == len(texts), [r.reasons for r in step.rejected]
    return step.accepted


@pytest.fixture
def written(tmp_path: Path) -> Written:
    """Three real Bridge windows; per window two v3 examples (the rule output, a rewording) for INTENT, and
    for the first window the rules backend's example for OTHER_INTENT; all through the real sink."""
    if not BRIDGE.is_file():
        pytest.skip(f"real Bridge data not found at {BRIDGE}")
    frames = BlobStore.for_dir(tmp_path / "frames")
    anchoring = RobotAnchoring(frames, LimitsConfig(), RobotExpertPipeline.default())
    windows: list[AnchorSet] = [
        anchor_set(anchoring, frames, "robot", key, recs)
        for key, recs in list(records(BRIDGE, "robot").items())[:3]
    ]
    family = registry()[FAMILY]
    contexts: dict[tuple[str, str], SynthesisContext] = {}
    chosen: dict[str, str] = {}
    rejected: dict[str, str] = {}
    examples: list[Example] = []
    for n, window in enumerate(windows):
        ctx = SynthesisContext(
            window, TaskSpec(FAMILY, intent_id=INTENT, text="next-step data from my robot")
        )
        contexts[(window.window_id, INTENT)] = ctx
        rule = family.rule_output(ctx)
        assert rule is not None
        pair = accepted(
            family, ctx, [rule.model_dump_json(), reworded(rule.model_dump_json())], "smollm2", "v3"
        )
        if n == 2:  # made a day earlier, for the time filter
            pair = [e.model_copy(update={"created_at": e.created_at - DAY}) for e in pair]
        chosen[window.window_id], rejected[window.window_id] = pair[0].example_id, pair[1].example_id
        examples += pair
    other_ctx = SynthesisContext(
        windows[0], TaskSpec(FAMILY, intent_id=OTHER_INTENT, text="anything robotic")
    )
    contexts[(windows[0].window_id, OTHER_INTENT)] = other_ctx
    rule = family.rule_output(other_ctx)
    assert rule is not None
    others = accepted(family, other_ctx, [rule.model_dump_json()], "rules", None)
    examples += others
    root = tmp_path / "ds"
    sink = ParquetSink(ParquetSinkConfig(root=root, writer_id="w1"), frames).open()
    assert sink.add(examples) == 7
    sink.flush()
    return Written(
        root, family, contexts, chosen, rejected, [e.example_id for e in others], windows[2].window_id
    )


def export(tmp_path: Path, *args: str) -> tuple[list[dict[str, Any]], str]:
    """`tailor export` in a fresh process whose broker address is a closed port."""
    out = tmp_path / "out.jsonl"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),  # this checkout's code
        "TAILOR_DATA_DIR": str(tmp_path / "data"),
        "TAILOR_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # nothing listens there
        "HF_HUB_OFFLINE": "1",
    }
    cmd = [sys.executable, "-m", "app.cli", "export", "--out", str(out), *args]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in out.read_text().splitlines()], proc.stdout


def test_sft_export_needs_no_broker_and_its_prompts_are_the_familys(written: Written, tmp_path: Path) -> None:
    started = time.monotonic()
    rows, said = export(tmp_path, "--format", "sft", "--from", str(written.root), "--weights-version", "v3")
    assert time.monotonic() - started < 60  # no broker wait: the rows carry their prompts
    assert len(rows) == 6 and "'weights_version': 1" in said and "skipped {}" in said
    by_window = {w: ctx for (w, i), ctx in written.contexts.items() if i == INTENT}
    stored = {r["example_id"] for r in rows}
    assert stored == set(written.chosen.values()) | set(written.rejected.values())
    for row in rows:
        window = next(
            w for w, ids in written.chosen.items() if row["example_id"] in (ids, written.rejected[w])
        )
        assert row["messages"][:-1] == written.family.chat_messages(by_window[window])
        assert row["messages"][-1]["role"] == "assistant" and json.loads(row["messages"][-1]["content"])
    # the other intent's example has the other intent's words in its prompt
    rows, _ = export(tmp_path, "--format", "sft", "--from", str(written.root), "--intent", OTHER_INTENT)
    first = next(iter(written.chosen))  # the window that has both intents
    assert [r["example_id"] for r in rows] == written.others
    assert rows[0]["messages"][:-1] == written.family.chat_messages(written.contexts[(first, OTHER_INTENT)])
    assert rows[0]["messages"][:-1] != written.family.chat_messages(written.contexts[(first, INTENT)])


def test_preference_export_from_parquet_keeps_the_example_ids(written: Written, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps({"chosen_id": written.chosen[w], "rejected_id": written.rejected[w]}) + "\n"
            for w in written.chosen
        )
    )
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - DAY / 2))
    rows, said = export(
        tmp_path,
        "--format",
        "preference",
        "--from",
        str(written.root),
        "--pairs",
        str(pairs),
        "--since",
        since,
    )
    # the window made a day earlier is filtered out, so its pair has no examples to pair
    assert len(rows) == 2 and "'unknown_example': 1" in said and "'created_after': 2" in said
    for row in rows:
        window = next(w for w, ids in written.chosen.items() if ids == row["chosen_id"])
        assert window != written.old_day and row["rejected_id"] == written.rejected[window]
        assert row["prompt"] == written.family.chat_messages(written.contexts[(window, INTENT)])
        assert row["chosen"][0]["content"] != row["rejected"][0]["content"]


def test_grpo_export_has_one_prompt_per_window_intent_and_family(written: Written, tmp_path: Path) -> None:
    rows, _ = export(tmp_path, "--format", "grpo", "--from", str(written.root))
    assert len(rows) == 4  # three windows for INTENT, one for OTHER_INTENT
    for row in rows:
        ctx = written.contexts[(row["window_id"], row["intent_id"])]
        assert row["task_family"] == FAMILY and row["prompt"] == written.family.chat_messages(ctx)
        if row["intent_id"] == INTENT:
            w = row["window_id"]
            assert row["example_ids"] == sorted([written.chosen[w], written.rejected[w]])
        else:
            assert row["example_ids"] == written.others
    # min reward: every accepted example here has r_total >= 1; a bar above all of them leaves nothing
    rows, said = export(tmp_path, "--format", "grpo", "--from", str(written.root), "--min-reward", "100")
    assert rows == [] and "'min_reward': 7" in said
    rows, _ = export(tmp_path, "--format", "grpo", "--from", str(written.root), "--until", "2000-01-01")
    assert rows == []


def test_rows_without_a_stored_prompt_are_skipped_and_counted_when_no_broker_answers(
    written: Written, tmp_path: Path
) -> None:
    """A dataset of sink schema 2 (no prompt_json column) beside the broker being down."""
    import pyarrow.parquet as pq

    from app.export_cli import run_export
    from streaming.sinks.layout import list_parts

    for part in list_parts(written.root):
        pq.write_table(pq.read_table(part.path, partitioning=None).drop_columns(["prompt_json"]), part.path)
    settings = TailorSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}", data_dir=tmp_path / "data")
    config = ExportConfig(dataset_dir=written.root, out=tmp_path / "old.jsonl", format="sft")
    started = time.monotonic()
    stats = run_export(settings, config, broker_timeout_s=5.0)
    assert stats.written == 0 and stats.skipped == {"no_stored_prompt": 7}
    assert time.monotonic() - started < 60  # the broker is tried once, not once per row
    offline = run_export(settings, config, offline=True)
    assert offline.written == 0 and offline.skipped == {"no_stored_prompt": 7}


def test_bad_filters_are_clear_errors(written: Written, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "app.cli", "export", "--out", str(out), "--from", str(written.root)]
    cmd += ["--since", "2026-02-01", "--until", "2026-01-01"]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "TAILOR_DATA_DIR": str(tmp_path),
    }
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "empty time range" in proc.stderr and not out.exists()


def test_rows_without_a_stored_prompt_fall_back_to_the_anchors_topic(
    written: Written, settings: TailorSettings, tmp_path: Path
) -> None:
    """Schema-2 rows beside schema-3 rows, with the real broker up: the old rows get their prompts from the
    anchors and intents topics as before schema 3, the new ones keep their own."""
    import pyarrow.parquet as pq

    from app.export_cli import run_export
    from core.records import Intent
    from streaming.producer import TailorProducer
    from streaming.sinks.layout import list_parts
    from streaming.topics import ensure_topics

    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as producer:
        for (_, intent_id), ctx in written.contexts.items():
            if intent_id == INTENT:
                producer.send(ctx.anchors)
        producer.send(Intent(intent_id=INTENT, text="next-step data from my robot", created_at=time.time()))
    old = {written.chosen[w] for w in written.chosen}
    for part in list_parts(written.root):
        table = pq.read_table(part.path, partitioning=None)
        ids = table.column("example_id").to_pylist()
        prompts = [None if i in old else p for i, p in zip(ids, table.column("prompt_json").to_pylist())]
        pq.write_table(
            table.set_column(table.column_names.index("prompt_json"), "prompt_json", [prompts]), part.path
        )
    config = ExportConfig(
        dataset_dir=written.root, out=tmp_path / "mixed.jsonl", format="sft", intent_ids=[INTENT]
    )
    stats = run_export(settings, config)
    assert stats.written == 6 and not stats.skipped
    for line in (tmp_path / "mixed.jsonl").read_text().splitlines():
        row = json.loads(line)
        window = next(
            w for w, ids in written.chosen.items() if row["example_id"] in (ids, written.rejected[w])
        )
        assert row["messages"][:-1] == written.family.chat_messages(written.contexts[(window, INTENT)])
