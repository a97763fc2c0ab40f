"""The publication gate: candidate >= current - margin, with a reason for every decision."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from trainer.gate import Gate
from trainer.weights import WeightsRef


def test_worse_candidate_is_refused_with_its_reason() -> None:
    d = Gate(margin=0.02).decide(0.50, 0.60)
    assert not d.publish and d.reason == "worse_than_current"
    assert "0.5000" in d.detail and "0.6000" in d.detail


@pytest.mark.parametrize(("margin", "cand", "cur", "publish", "reason"), [
    (0.0, 0.61, 0.60, True, "not_worse"),
    (0.0, 0.60, 0.60, True, "not_worse"),
    (0.0, 0.599, 0.60, False, "worse_than_current"),
    (0.05, 0.56, 0.60, True, "within_margin"),
    (0.05, 0.54, 0.60, False, "worse_than_current"),
    (-0.05, 0.64, 0.60, False, "gain_below_margin"),  # a negative margin demands an improvement
    (-0.05, 0.59, 0.60, False, "worse_than_current"),
    (-0.05, 0.66, 0.60, True, "not_worse"),
    (0.0, math.nan, 0.60, False, "non_finite_score"),
    (0.0, 0.7, math.inf, False, "non_finite_score"),
])
def test_decisions(margin: float, cand: float, cur: float, publish: bool, reason: str) -> None:
    d = Gate(margin).decide(cand, cur)
    assert (d.publish, d.reason) == (publish, reason)


def test_first_candidate_without_current_is_published() -> None:
    d = Gate(0.0).decide(0.1, None)
    assert d.publish and d.reason == "no_current" and d.current_score is None


def test_judge_scores_both_refs_with_the_evaluator(tmp_path: Path) -> None:
    scores = {"candidate": 0.4, "v1": 0.5}
    seen: list[str] = []

    def evaluate(ref: WeightsRef) -> float:
        seen.append(ref.label)
        return scores[ref.label]

    current = WeightsRef(tmp_path, tmp_path / "v1", "v1")
    d = Gate(0.0).judge(evaluate, WeightsRef(tmp_path, tmp_path / "c", "candidate"), current)
    assert seen == ["candidate", "v1"] and not d.publish
    assert Gate(0.2).judge(evaluate, WeightsRef(tmp_path, None, "candidate"), current).publish
    assert Gate(0.0).judge(evaluate, WeightsRef(tmp_path, None, "candidate"), current, current_score=0.3).publish
