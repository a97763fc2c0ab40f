"""The gate refuses a genuinely worse adapter, and never publishes a tie.

A real LoRA adapter is trained (TRL DPO on the real SmolLM2-135M, one step at lr 1e-3) on a dev case of the
benchmark to prefer a prose answer, which fails every family's schema, over the recording-derived reference.
Both weights are then scored per case on real heldout cases with `MarginBench(per_item=True)`: the mean token log-prob of
the reference minus that of the schema-failing answer, under the case's real synthesis prompt. The gate, on
those paired per-case scores with its bootstrap interval and the default margin 0, refuses the adapter as
worse; a no-op adapter (a fresh LoRA, B = 0) scored against the base is a tie, also refused (the old gate
published it as "not_worse").

(Free generation cannot show this on CPU: SmolLM2 without constrained decoding writes no valid JSON on the
heldout split with the hf backend, so every case scores 0 for any weights, and generation takes minutes per
case on a loaded 2-core machine.)
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bench.case import BenchCase
from bench.scoring import CaseScorer, context
from bench.store import load_cases
from tests.trainer.conftest import PROSE
from trainer.dpo import run_dpo
from trainer.evaluate import MarginBench
from trainer.evaluate_config import EvaluateConfig
from trainer.gate import Gate
from trainer.heldout import HeldoutRecordings
from trainer.preferences import PreferencePair, build_group, build_pairs
from trainer.train_config import LoraSettings, TrainConfig
from trainer.weights import WeightsRef

log = logging.getLogger(__name__)

pytestmark = pytest.mark.slow

TRAIN_CASES = ("robot-bridge-00005-temporal_qa",)
GATE_CASES = (
    "robot-bridge-00004-temporal_qa",
    "video-bigbuckbunny-000-131-temporal_qa",
    "gui-mind2web-0-2-tutorial",
)
EVAL = EvaluateConfig(max_length=256, max_prompts=32, dtype="float32")
WORSE_DPO = {
    "max_steps": 1,
    "gradient_accumulation_steps": 1,
    "max_length": 256,
    "truncation_mode": "keep_end",
    "learning_rate": 1e-3,
}


def reference_vs_prose(case: BenchCase, scorer: CaseScorer) -> PreferencePair:
    """The case's reference (chosen) against a prose answer (rejected), under the case's synthesis prompt."""
    family = scorer.families[case.family]
    group = build_group(
        family,
        context(case),
        [json.dumps(case.reference), PROSE],
        ids=[f"{case.case_id}-ref", f"{case.case_id}-prose"],
    )
    (pair,) = build_pairs([group]).pairs
    assert pair.chosen_id.endswith("-ref"), pair
    return pair


def noop_adapter(model_dir: Path, out: Path) -> Path:
    """A freshly initialised LoRA adapter (peft's default init: B = 0), saved as the store saves adapters."""
    from peft import LoraConfig, get_peft_model

    from agents.model_cache import load_model

    model, _ = load_model(model_dir)
    get_peft_model(
        model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    ).save_pretrained(str(out))
    return out


def test_a_worse_real_adapter_is_refused_and_a_tie_is_not_published(smol_dir: Path, tmp_path: Path) -> None:
    started = time.perf_counter()
    by_id = {c.case_id: c for c in load_cases(split="all")}
    scorer = CaseScorer()
    heldout = HeldoutRecordings.load()
    train_cases = [by_id[i] for i in TRAIN_CASES]
    gate_cases = [by_id[i] for i in GATE_CASES]
    assert all(c.split == "dev" and not heldout.holds(c.anchors) for c in train_cases)
    assert all(c.split == "heldout" for c in gate_cases)
    for (
        case
    ) in gate_cases:  # by the benchmark's own scorer: the rejected side fails the schema, the reference not
        assert scorer.score(case, PROSE).g_json == 0.0 and scorer.score(case, PROSE).s_accepted == 0.0
        assert scorer.score(case, json.dumps(case.reference)).g_json == 1.0

    # trained to be worse: prefer the schema-failing prose over the reference, on dev cases only
    swapped = [
        replace(p, chosen=p.rejected, rejected=p.chosen, chosen_id=p.rejected_id, rejected_id=p.chosen_id)
        for p in (reference_vs_prose(c, scorer) for c in train_cases)
    ]
    trained = run_dpo(
        smol_dir, swapped, TrainConfig(trl_overrides=WORSE_DPO, lora=LoraSettings(rank=8)), tmp_path / "worse"
    )
    assert trained.steps == 1 and trained.kind == "lora"
    trained_at = time.perf_counter()

    bench = MarginBench([reference_vs_prose(c, scorer) for c in gate_cases], EVAL, per_item=True)
    base_scores = bench(WeightsRef(smol_dir, None, "base"))
    worse_scores = bench(WeightsRef(smol_dir, trained.adapter_dir, "worse"))
    gate = Gate()  # margin 0: the lower bound of the paired 95% interval must be >= 0, and the mean gain > 0
    refused = gate.decide(worse_scores, base_scores)
    log.warning("worse adapter: %s", refused.detail)
    assert not refused.publish and refused.reason == "worse_than_current"
    assert refused.cases == len(GATE_CASES) and refused.ci_high is not None and refused.ci_high < 0
    assert refused.candidate_score < refused.current_score  # type: ignore[operator]
    # with the adapter as the current weights, the base beats it on every case and would be published
    assert gate.decide(base_scores, worse_scores).publish

    # a no-op adapter (a fresh LoRA: B = 0) scores exactly what the base scores: a tie, never published
    tie = gate.decide(
        bench(WeightsRef(smol_dir, noop_adapter(smol_dir, tmp_path / "noop"), "noop")), base_scores
    )
    log.warning("no-op adapter vs base: %s", tie.detail)
    assert not tie.publish and tie.reason == "tie" and tie.mean_diff == 0.0
    log.warning("train %.0fs, gate %.0fs", trained_at - started, time.perf_counter() - trained_at)
