"""The publication gate: paired per-case differences, a bootstrap interval, publish iff the mean gain is > 0
and the interval's lower bound is >= -margin; ties never publish; a reason for every decision."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from trainer.gate import Gate, paired_bootstrap
from trainer.weights import WeightsRef


def cases(values: list[float]) -> dict[str, float]:
    return {f"case-{i:03d}": v for i, v in enumerate(values)}


def test_worse_candidate_is_refused_with_its_reason() -> None:
    d = Gate(margin=0.02).decide(0.50, 0.60)
    assert not d.publish and d.reason == "worse_than_current"
    assert "0.5000" in d.detail and "0.6000" in d.detail


@pytest.mark.parametrize(
    ("margin", "cand", "cur", "publish", "reason"),
    [
        (0.0, 0.61, 0.60, True, "improved"),
        (0.0, 0.60, 0.60, False, "tie"),  # a tie (e.g. a no-op adapter) is never published
        (0.0, 0.599, 0.60, False, "worse_than_current"),
        (0.05, 0.56, 0.60, False, "worse_than_current"),  # a positive margin does not publish a lower mean
        (-0.05, 0.64, 0.60, False, "gain_below_margin"),  # a negative margin demands an improvement
        (-0.05, 0.59, 0.60, False, "worse_than_current"),
        (-0.05, 0.66, 0.60, True, "improved"),
        (0.0, math.nan, 0.60, False, "non_finite_score"),
        (0.0, 0.7, math.inf, False, "non_finite_score"),
    ],
)
def test_scalar_decisions(margin: float, cand: float, cur: float, publish: bool, reason: str) -> None:
    d = Gate(margin).decide(cand, cur)
    assert (d.publish, d.reason) == (publish, reason)


def test_first_candidate_without_current_is_published() -> None:
    d = Gate(0.0).decide(0.1, None)
    assert d.publish and d.reason == "no_current" and d.current_score is None


def test_identical_per_case_scores_are_a_tie_and_refused() -> None:
    scores = cases([0.1, 0.5, 0.0, 0.9, 0.3])
    d = Gate(0.5).decide(dict(scores), scores)  # even a generous margin never publishes a tie
    assert not d.publish and d.reason == "tie" and d.mean_diff == 0.0 and d.cases == 5


def test_a_consistent_gain_is_published_and_the_interval_brackets_it() -> None:
    rng = random.Random(1)
    current = [rng.random() * 0.5 for _ in range(25)]
    candidate = [c + 0.1 + rng.uniform(-0.03, 0.03) for c in current]
    d = Gate(0.0).decide(cases(candidate), cases(current))
    assert d.publish and d.reason == "improved" and d.cases == 25
    assert d.mean_diff is not None and d.ci_low is not None and d.ci_high is not None
    assert 0 < d.ci_low <= d.mean_diff <= d.ci_high
    assert d.candidate_score == pytest.approx(sum(candidate) / 25) and "CI" in d.detail
    # a negative margin above the gain refuses the same candidate
    demanding = Gate(-0.2).decide(cases(candidate), cases(current))
    assert not demanding.publish and demanding.reason == "gain_below_margin"


def test_a_noisy_small_gain_needs_a_margin_to_publish() -> None:
    current = cases([0.5] * 12)
    candidate = cases(
        [0.9, 0.1, 0.8, 0.2, 0.9, 0.1, 0.7, 0.3, 0.9, 0.2, 0.8, 0.3]
    )  # mean +0.0167, wide spread
    strict = Gate(0.0).decide(candidate, current)
    assert not strict.publish and strict.reason == "gain_below_margin"
    assert strict.ci_low is not None and strict.ci_low < 0 < strict.mean_diff  # type: ignore[operator]
    tolerant = Gate(0.5).decide(candidate, current)
    assert tolerant.publish and tolerant.reason == "within_margin"


def test_a_lower_mean_is_refused_whatever_the_margin() -> None:
    d = Gate(1.0).decide(cases([0.4, 0.5, 0.6]), cases([0.5, 0.5, 0.6]))
    assert not d.publish and d.reason == "worse_than_current"


def test_mismatched_or_empty_or_non_finite_case_scores_are_refused() -> None:
    assert Gate().decide(cases([0.5, 0.6]), cases([0.5])).reason == "case_mismatch"
    assert Gate().decide(cases([0.5]), 0.4).reason == "case_mismatch"
    assert Gate().decide({}, {}).reason == "no_cases"
    assert Gate().decide(cases([0.5, math.nan]), cases([0.1, 0.1])).reason == "non_finite_score"


def test_the_bootstrap_is_deterministic() -> None:
    diffs = [0.3, -0.1, 0.2, 0.0, 0.5, -0.2, 0.1]
    assert paired_bootstrap(diffs) == paired_bootstrap(list(diffs))
    low, high = paired_bootstrap(diffs)
    assert low < sum(diffs) / len(diffs) < high
    assert paired_bootstrap([0.2]) == (0.2, 0.2)
    with pytest.raises(ValueError):
        Gate(math.inf)


def test_judge_scores_both_refs_with_the_evaluator(tmp_path: Path) -> None:
    scores = {"candidate": cases([0.4, 0.4]), "v1": cases([0.5, 0.5])}
    seen: list[str] = []

    def evaluate(ref: WeightsRef) -> dict[str, float]:
        seen.append(ref.label)
        return scores[ref.label]

    current = WeightsRef(tmp_path, tmp_path / "v1", "v1")
    d = Gate(0.0).judge(evaluate, WeightsRef(tmp_path, tmp_path / "c", "candidate"), current)
    assert seen == ["candidate", "v1"] and not d.publish and d.reason == "worse_than_current"
    better = Gate(0.0).judge(
        evaluate, WeightsRef(tmp_path, None, "candidate"), current, current_score=cases([0.3, 0.3])
    )
    assert better.publish and better.reason == "improved"


def test_remembered_scores_the_same_weights_once_and_new_bytes_again(tmp_path: Path) -> None:
    from trainer.gate import remembered
    from trainer.weights import ADAPTER_WEIGHTS

    calls: list[str] = []

    def evaluate(ref: WeightsRef) -> dict[str, float]:
        calls.append(ref.label)
        return {"a": float(len(calls))}

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / ADAPTER_WEIGHTS).write_bytes(b"one")
    cached = remembered(evaluate)
    base = WeightsRef(tmp_path)
    assert cached(base) == cached(WeightsRef(tmp_path)) == {"a": 1.0}
    first = cached(WeightsRef(tmp_path, adapter, "candidate"))
    # the published copy of the same adapter (another folder name, same bytes) is not scored again
    published = tmp_path / "v1"
    published.mkdir()
    (published / ADAPTER_WEIGHTS).write_bytes(b"one")
    assert cached(WeightsRef(tmp_path, published, "v1")) == first == {"a": 2.0}
    (adapter / ADAPTER_WEIGHTS).write_bytes(b"two")  # the next round trained into the same folder
    assert cached(WeightsRef(tmp_path, adapter, "candidate")) == {"a": 3.0}
    assert calls == ["base", "candidate", "candidate"]
