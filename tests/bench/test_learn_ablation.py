"""The ablation of `tailor bench learn` on a tiny case: the two arms see the same groups, differ only in the
downstream feedback, and both train and score (tiny random model: mechanics, not quality)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.learn import Curve
from bench.learn_ablation import accepted, arm_pairs, probe_feedback, run_arms
from bench.learn_config import QUICK, LearnBenchConfig
from bench.scoring import context
from tests.trainer.conftest import PROSE, smol_dir, tiny_model_dir  # noqa: F401 (fixtures)
from trainer.feedback import FeedbackLedger
from trainer.preferences import build_group


def test_the_arms_differ_only_in_the_feedback(tiny_model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    quick = {k: v for k, v in QUICK.items() if k != "dev_limit"}  # every dev case, to find two robot ones
    cfg = LearnBenchConfig(
        **{
            **quick,
            "out": tmp_path,
            "model_dir": tiny_model_dir,
            "eval_limit": 1,
            "ablation_probe_batch": 1,
            "ablation_probe_batches": 8,
            "ablation_steps": 1,
        }
    )
    curve = Curve(cfg, None)
    cases = [c for c in curve.dev if c.family == "next_subtask"][:2]
    assert len(cases) == 2
    groups = []
    for case in cases:
        family, ctx = curve.families[case.family], context(case)
        rule = family.rule_output(ctx)
        assert rule is not None
        groups.append(build_group(family, ctx, [json.dumps(case.reference), rule.model_dump_json(), PROSE]))

    good = accepted(groups)
    assert len(good) == 4 and all(c.text != PROSE for _, c in good)  # the validators pass both grounded ones
    feedback = probe_feedback(curve, groups)
    # one batch per accepted candidate (batch size 1), scored on dev references of the other recording
    assert sorted(i for f in feedback for i in f.example_ids or []) == sorted(c.candidate_id for _, c in good)
    with_fb, without = arm_pairs(groups, feedback), arm_pairs(groups, [])
    ledger = FeedbackLedger()
    ledger.add_all(feedback)
    utility_pairs = [p for p in with_fb if p.basis == "utility"]
    assert utility_pairs and all(p.basis == "reward" for p in without)
    for p in utility_pairs:
        assert (ledger.utility(p.chosen_id) or 0.0) > (ledger.utility(p.rejected_id) or 0.0)
    assert not any(p.chosen == PROSE for p in with_fb + without)  # prose never wins, in either arm

    warm = curve.point("warm start", "hf", None, heldout_only=True, record=False)
    result = run_arms(curve, None, warm, groups, feedback)
    arms = result["arms"]
    assert arms["feedback"]["pairs"] == len(with_fb) and arms["rules"]["pairs"] == len(without)
    assert result["pairs_not_in_rules_arm"] >= 1
    for name in ("feedback", "rules"):
        point = arms[name]["point"]
        assert point["weights"].endswith(f"ablation-{name}/adapter") and point["train"]["steps"] == 1
        assert arms[name]["vs_warm_start"]["cases"] == 1
    assert result["feedback_vs_rules"]["cases"] == 1
    assert curve.points == []  # the arms are not points of the curve
