"""The supervised warm start: rows built from real benchmark cases (validated, in the decoder's exact
format, never from a heldout recording) and a real TRL SFT run on a tiny random llama (mechanics only)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agents.tasks.base import TaskFamily
from agents.tasks.catalog import families
from agents.tasks.constrained import to_regex
from app.sft_sources import reference_sources
from bench.scoring import context
from bench.store import load_cases
from core.records import AnchorSet
from trainer.heldout import HeldoutRecordings
from trainer.sft import SftSource, build_sft_data, run_sft
from trainer.train_config import LoraSettings, TrainConfig
from trainer.weights import ADAPTER_CONFIG, ADAPTER_WEIGHTS


@pytest.fixture(scope="module")
def by_name() -> dict[str, TaskFamily]:
    return {f.name: f for f in families()}


def test_rows_are_validated_prompts_and_decoder_shaped_completions(by_name: dict[str, TaskFamily]) -> None:
    sources = reference_sources(by_name)
    data = build_sft_data(sources, HeldoutRecordings.load())
    assert len(data.rows) >= 8 and data.by_origin == {"reference": len(data.rows)}
    assert data.dropped["invalid"] > 0  # references whose frames the anchors do not hold are not taught
    by_id = {s.source_id: s for s in sources}
    for row in data.rows:
        src = by_id[row.source_id]
        assert row.prompt == [{"role": m.role, "content": m.content} for m in src.family.prompt(src.ctx)]
        assert not src.family.validate(src.ctx, src.family.parse(row.completion))
        schema = src.family.decoding_schema(src.ctx)
        assert schema is not None
        # exactly what the constrained decoder may write for this window (compact JSON, schema key order)
        assert re.fullmatch(to_regex(schema), row.completion), (row.family, row.completion)
        assert row.to_trl()["completion"] == [{"role": "assistant", "content": row.completion}]


def test_heldout_recordings_invalid_and_repeated_outputs_are_dropped(by_name: dict[str, TaskFamily]) -> None:
    heldout = HeldoutRecordings.load()
    held = [c for c in load_cases(split="heldout") if not c.reference_violations][:3]
    dev = [c for c in load_cases(split="dev") if not c.reference_violations and c.family == "temporal_qa"][:1]
    assert held and dev
    src = [
        SftSource(f"case:{c.case_id}", by_name[c.family], context(c), json.dumps(c.reference), "reference")
        for c in [*held, *dev]
    ]
    good = src[-1]
    respaced = SftSource(
        "again",
        good.family,
        good.ctx,
        "```json\n" + json.dumps(json.loads(good.text), indent=2) + "\n```",
        "stream",
    )
    broken = SftSource("broken", good.family, good.ctx, good.text[:-5], "stream")
    shifted = dict(json.loads(good.text), evidence_frames=[good.ctx.anchors.num_frames + 5])
    outside = SftSource("outside", good.family, good.ctx, json.dumps(shifted), "stream")
    data = build_sft_data([*src, respaced, broken, outside], heldout)
    assert [r.source_id for r in data.rows] == [good.source_id]
    assert data.dropped["heldout_recording"] == len(held)
    assert (
        data.dropped["duplicate"] == 1 and data.dropped["invalid_json"] == 1 and data.dropped["invalid"] == 1
    )
    assert sum(data.dropped.values()) == len(held) + 3
    # without the heldout list the same heldout cases would be taught: the list is what stops them
    assert len(build_sft_data(src, None).rows) > 1


def test_sft_trains_a_safetensors_adapter_on_the_completions(
    tiny_model_dir: Path, by_name: dict[str, TaskFamily], tmp_path: Path
) -> None:
    rows = build_sft_data(reference_sources(by_name), HeldoutRecordings.load()).rows[:4]
    cfg = TrainConfig(
        lora=LoraSettings(rank=4),
        trl_overrides={"max_steps": 2, "learning_rate": 1e-2, "gradient_accumulation_steps": 1},
    )
    result = run_sft(tiny_model_dir, rows, cfg, tmp_path / "sft")
    assert result.method == "sft" and result.kind == "lora" and result.steps == 2
    assert sorted(p.name for p in result.adapter_dir.iterdir()) == [ADAPTER_CONFIG, ADAPTER_WEIGHTS]
    assert result.trained_on == [r.source_id for r in rows]
    assert result.loss_start is not None and result.loss_end is not None
    assert (
        result.loss_start > 5.0
    )  # a random model on real completions: near log(vocab), completion tokens only
    assert "mean_token_accuracy_end" in result.metrics


def test_stream_examples_become_rows_and_a_round_with_too_few_is_skipped(
    family: TaskFamily, bridge_windows: list[AnchorSet], by_name: dict[str, TaskFamily], tmp_path: Path
) -> None:
    """Accepted examples on the topic (here the rules backend's) join their windows and intents into rows; an
    example whose window is not on the anchors topic is left out; an SFT round under `min_sft_rows` trains
    nothing."""
    import time

    from agents.tasks.base import SynthesisContext, TaskSpec
    from app.sft_sources import stream_sources
    from core.records import Example, Intent
    from tests.trainer.conftest import rule_text
    from trainer.round import run_round
    from trainer.round_config import RoundConfig
    from trainer.store import ModelStore

    windows = [w for w in bridge_windows if family.applies(w)][:3]
    intent = Intent(intent_id="i1", text="next subtask data", task=family.name, created_at=time.time())
    accepted = [
        Example(
            example_id=f"e{i}",
            task_family=family.name,
            output_json=rule_text(family, w),
            window_id=w.window_id,
            intent_id="i1",
            source=w.span,
            model="rules",
            created_at=time.time(),
        )
        for i, w in enumerate(windows)
    ]
    accepted.append(accepted[0].model_copy(update={"example_id": "lost", "window_id": "robot:nowhere:0"}))
    sources = stream_sources(accepted, {w.window_id: w for w in windows}, {"i1": intent}, by_name)
    assert [s.source_id for s in sources] == ["e0", "e1", "e2"]
    assert sources[0].ctx == SynthesisContext(
        windows[0], TaskSpec(family.name, "i1", "robot", None, "next subtask data")
    )
    data = build_sft_data(sources, None)
    assert len(data.rows) == 3 and data.by_origin == {"stream": 3}

    def never(ref: object) -> dict[str, float]:
        raise AssertionError("a skipped round never reaches the gate")

    r = run_round(
        [],
        [],
        base_model_dir=tmp_path,
        store=ModelStore(tmp_path / "store"),
        work_dir=tmp_path,
        evaluate=never,
        config=RoundConfig(method="sft", min_sft_rows=4),
        sft_rows=data.rows,
    )
    assert r.status == "skipped" and r.reason == "too_few_examples: 3 < 4" and r.train is None


def test_the_rules_teach_every_job_the_model_stream_synthesised(
    bridge_windows: list[AnchorSet], family: TaskFamily, by_name: dict[str, TaskFamily]
) -> None:
    """A model-served stream holds no rules examples: the rules' answer to each of its jobs (window, intent,
    family; accepted or rejected candidate alike, once per job) becomes a row that validates."""
    import time

    from app.sft_sources import rules_sources
    from core.records import Intent, RejectedExample

    windows = [w for w in bridge_windows if family.applies(w)][:2]
    intent = Intent(intent_id="i1", text="next subtask data", task=family.name, created_at=time.time())
    jobs = [
        RejectedExample(
            example_id=f"r{i}-{n}",
            task_family=family.name,
            window_id=w.window_id,
            intent_id="i1",
            reasons=["invalid_json"],
            model="SmolLM2",
            created_at=time.time(),
        )
        for i, w in enumerate(windows)
        for n in range(2)
    ]
    jobs.append(jobs[0].model_copy(update={"example_id": "lost", "window_id": "robot:nowhere:0"}))
    sources = rules_sources(jobs, {w.window_id: w for w in windows}, {"i1": intent}, by_name)
    assert [s.source_id for s in sources] == [f"rules:{w.window_id}:i1:{family.name}" for w in windows]
    assert all(s.origin == "rules" and s.ctx.spec.text == "next subtask data" for s in sources)
    data = build_sft_data(sources, None)
    assert len(data.rows) == 2 and data.by_origin == {"rules": 2}
