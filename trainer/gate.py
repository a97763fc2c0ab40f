"""The publication gate: a candidate's benchmark score against the current weights' score.

Scores are "higher is better" (the quality benchmark's s_total, or any `evaluate(WeightsRef) -> float`).
The candidate is published when

    candidate_score >= current_score - margin

so a positive margin tolerates a small regression (benchmark noise), zero asks for no regression, and a
negative margin asks for an improvement of at least |margin|. With no current weights the first
candidate is published. A non-finite score is never published. Every decision carries its reason label.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from trainer.weights import WeightsRef

log = logging.getLogger(__name__)

Evaluate = Callable[[WeightsRef], float]


@dataclass(frozen=True)
class GateDecision:
    publish: bool
    reason: str  # published: no_current | not_worse | within_margin; refused: worse_than_current |
    # gain_below_margin (not worse, but short of the improvement a negative margin asks for) | non_finite_score
    candidate_score: float
    current_score: float | None
    margin: float

    @property
    def detail(self) -> str:
        current = "none" if self.current_score is None else f"{self.current_score:.4f}"
        return (f"{self.reason}: candidate {self.candidate_score:.4f} vs current {current} "
                f"(margin {self.margin:+.4f})")


class Gate:
    def __init__(self, margin: float = 0.0) -> None:
        self.margin = margin

    def decide(self, candidate_score: float, current_score: float | None) -> GateDecision:
        if not math.isfinite(self.margin):
            raise ValueError(f"gate margin must be finite, got {self.margin}")
        if not math.isfinite(candidate_score) or (current_score is not None and not math.isfinite(current_score)):
            decision = GateDecision(False, "non_finite_score", candidate_score, current_score, self.margin)
        elif current_score is None:
            decision = GateDecision(True, "no_current", candidate_score, None, self.margin)
        elif candidate_score >= current_score - self.margin:
            reason = "not_worse" if candidate_score >= current_score else "within_margin"
            decision = GateDecision(True, reason, candidate_score, current_score, self.margin)
        else:
            reason = "worse_than_current" if candidate_score < current_score else "gain_below_margin"
            decision = GateDecision(False, reason, candidate_score, current_score, self.margin)
        log.info("gate: %s", decision.detail)
        return decision

    def judge(self, evaluate: Evaluate, candidate: WeightsRef, current: WeightsRef | None,
              current_score: float | None = None) -> GateDecision:
        """Score the candidate (and the current weights, unless their score is given) and decide."""
        cand = float(evaluate(candidate))
        if current is not None and current_score is None:
            current_score = float(evaluate(current))
        return self.decide(cand, current_score)
