"""The publication gate: does the candidate beat the current weights on the benchmark?

Scores are higher-is-better. The gate's input is per-case scores: the same benchmark cases (the whole
heldout split of the quality benchmark) scored with both weights, `{case_id: score}`. It takes the paired
differences d_i = candidate_i − current_i, their mean, and a paired bootstrap confidence interval of that
mean (`resamples` resamplings of the cases with replacement, fixed seed, percentile interval at
`confidence`, default 2000 and 95 %). The candidate is published iff

    mean(d) > 0   and   ci_low >= −margin

- Ties are never published: a mean difference of 0 (identical outputs, a no-op adapter) is `tie`.
- margin = 0 (default): the interval must exclude a regression (ci_low >= 0).
- margin > 0: the interval may reach down to −margin (benchmark noise), but the mean must still improve.
- margin < 0: demands an improvement: the interval's lower bound must be at least |margin|.

A scalar score per weights (e.g. `RewardBench` / `MarginBench` without `per_item`) is one paired
observation: its interval is the point d, so the rule reads d > 0 and d >= −margin. With no current
weights the first candidate is published. Every decision carries its reason label:

- published: `improved` (ci_low >= 0), `within_margin` (mean > 0, −margin <= ci_low < 0), `no_current`;
- refused: `tie`, `worse_than_current` (mean < 0), `gain_below_margin` (mean > 0 but ci_low < −margin),
  `non_finite_score`, `case_mismatch` (the two evaluations scored different cases), `no_cases`.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from trainer.weights import ADAPTER_WEIGHTS, WeightsRef

log = logging.getLogger(__name__)

Scores = float | Mapping[str, float]  # one score, or one per benchmark case (case id -> score)
Evaluate = Callable[[WeightsRef], Scores]

TIE_TOLERANCE = 1e-9  # |mean difference| at or under this is a tie (float noise of identical outputs)
SEED = 0


@dataclass(frozen=True)
class GateDecision:
    publish: bool
    reason: str  # see the module docstring
    candidate_score: float  # mean over the cases (or the scalar)
    current_score: float | None
    margin: float
    mean_diff: float | None = None  # mean of candidate − current over the paired cases
    ci_low: float | None = None  # bootstrap interval of mean_diff
    ci_high: float | None = None
    cases: int = 0  # paired cases (1 for scalar scores)
    confidence: float = 0.95

    @property
    def detail(self) -> str:
        current = "none" if self.current_score is None else f"{self.current_score:.4f}"
        text = f"{self.reason}: candidate {self.candidate_score:.4f} vs current {current} (margin {self.margin:+.4f})"
        if self.mean_diff is not None and self.ci_low is not None and self.ci_high is not None:
            text += (
                f"; diff {self.mean_diff:+.4f}, {self.confidence:.0%} CI [{self.ci_low:+.4f}, "
                f"{self.ci_high:+.4f}] over {self.cases} cases"
            )
        return text


def mean_of(scores: Scores) -> float:
    if isinstance(scores, Mapping):
        return sum(scores.values()) / len(scores) if scores else math.nan
    return float(scores)


def paired_bootstrap(
    diffs: list[float], confidence: float = 0.95, resamples: int = 2000, seed: int = SEED
) -> tuple[float, float]:
    """Percentile interval of the mean of `diffs` over `resamples` resamplings with replacement."""
    import numpy as np

    d = np.asarray(diffs, dtype=np.float64)
    if d.size == 1:
        return float(d[0]), float(d[0])
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(resamples, d.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))


class Gate:
    def __init__(
        self, margin: float = 0.0, confidence: float = 0.95, resamples: int = 2000, seed: int = SEED
    ) -> None:
        if not math.isfinite(margin):
            raise ValueError(f"gate margin must be finite, got {margin}")
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"gate confidence must be in (0, 1), got {confidence}")
        if resamples < 1:
            raise ValueError(f"gate resamples must be positive, got {resamples}")
        self.margin = margin
        self.confidence = confidence
        self.resamples = resamples
        self.seed = seed

    def decide(self, candidate: Scores, current: Scores | None) -> GateDecision:
        """Publish or refuse `candidate` against `current` (None: nothing published yet)."""
        decision = self._decide(candidate, current)
        log.info("gate: %s", decision.detail)
        return decision

    def _decision(
        self,
        publish: bool,
        reason: str,
        candidate: float,
        current: float | None,
        paired: tuple[float, float, float, int] | None = None,
    ) -> GateDecision:
        diff, low, high, cases = paired if paired is not None else (None, None, None, 0)
        return GateDecision(
            publish, reason, candidate, current, self.margin, diff, low, high, cases, self.confidence
        )

    def _decide(self, candidate: Scores, current: Scores | None) -> GateDecision:
        cand_mean = mean_of(candidate)
        cur_mean = None if current is None else mean_of(current)
        if isinstance(candidate, Mapping) and not candidate:
            return self._decision(False, "no_cases", cand_mean, cur_mean)
        values = list(candidate.values()) if isinstance(candidate, Mapping) else [float(candidate)]
        if current is not None:
            values += list(current.values()) if isinstance(current, Mapping) else [float(current)]
        if not all(math.isfinite(v) for v in values):
            return self._decision(False, "non_finite_score", cand_mean, cur_mean)
        if current is None:
            return self._decision(True, "no_current", cand_mean, None)
        if isinstance(candidate, Mapping) != isinstance(current, Mapping) or (
            isinstance(candidate, Mapping) and isinstance(current, Mapping) and set(candidate) != set(current)
        ):
            return self._decision(False, "case_mismatch", cand_mean, cur_mean)
        if isinstance(candidate, Mapping) and isinstance(current, Mapping):
            diffs = [float(candidate[k]) - float(current[k]) for k in sorted(candidate)]
        else:
            diffs = [cand_mean - mean_of(current)]
        diff = sum(diffs) / len(diffs)
        low, high = paired_bootstrap(diffs, self.confidence, self.resamples, self.seed)
        paired = (diff, low, high, len(diffs))
        if abs(diff) <= TIE_TOLERANCE:
            return self._decision(False, "tie", cand_mean, cur_mean, paired)
        if diff < 0:
            return self._decision(False, "worse_than_current", cand_mean, cur_mean, paired)
        if low < -self.margin:
            return self._decision(False, "gain_below_margin", cand_mean, cur_mean, paired)
        return self._decision(True, "improved" if low >= 0 else "within_margin", cand_mean, cur_mean, paired)

    def judge(
        self,
        evaluate: Evaluate,
        candidate: WeightsRef,
        current: WeightsRef | None,
        current_score: Scores | None = None,
    ) -> GateDecision:
        """Score the candidate (and the current weights, unless their scores are given) and decide."""
        cand = evaluate(candidate)
        if current is not None and current_score is None:
            current_score = evaluate(current)
        return self.decide(cand, current_score)


def remembered(evaluate: Evaluate) -> Evaluate:
    """`evaluate`, reusing the scores of weights it already scored (same base folder, same adapter bytes):
    a round's current weights are the previous round's candidate, and scoring them again on the CPU server
    costs as much as the first time (about 100 s for the heldout split with a LoRA adapter)."""
    seen: dict[tuple[str, str | None], Scores] = {}

    def key(ref: WeightsRef) -> tuple[str, str | None]:
        if ref.adapter_dir is None:
            return str(ref.base_model_dir.resolve()), None
        digest = hashlib.sha256((ref.adapter_dir / ADAPTER_WEIGHTS).read_bytes()).hexdigest()
        return str(ref.base_model_dir.resolve()), digest

    def cached(ref: WeightsRef) -> Scores:
        k = key(ref)
        if k not in seen:
            seen[k] = evaluate(ref)
        else:
            log.info("gate: %s scored before (same weights); reusing its scores", ref.label)
        return seen[k]

    return cached
