"""Rewards of synthesised examples (stage 3), following the paper:

    R = 0.7·R_format + 1.0·R_anchor + 0.3·R_eff

- R_format: 1 when the text parses into the family's schema; `schema_error_credit` (default 0) for valid
  JSON that fails the schema; 0 otherwise (not JSON, too large, too deep).
- R_anchor = exp(-d / 0.10): d is the mean absolute difference between the output's trajectory (the
  normalised frame positions it cites, in order) and the reference (the rule output's), each resampled to
  50 points by linear interpolation over its own index. A 1-point trajectory is a constant; an empty
  trajectory (or no reference, or no parse) gives R_anchor = 0.
- R_eff: with L the output's reasoning length in words (its `cot`, or its free text for families without
  one) and M the mean reasoning length of the top-scoring half of its group (examples for the same window
  and intent, ranked by w_format·R_format + w_anchor·R_anchor, ties by position, ceil(n/2) of them):
  R_eff = 1 when L <= M (or L = 0, or M unknown), else M / L. A group of one is its own top half (R_eff = 1).
  An output that does not parse has no reasoning: R_eff = 0.

Validators do not enter R; `valid` (1/0) is reported beside the terms.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from agents.rewards_config import RewardsConfig
from agents.tasks.base import ParseError, SynthesisContext, TaskFamily, TaskOutput

log = logging.getLogger(__name__)


def resample(trajectory: Sequence[float], points: int) -> np.ndarray:
    """`trajectory` linearly interpolated over its own index to `points` values (1 point: a constant)."""
    values = np.asarray(trajectory, dtype=np.float64)
    if values.size == 0:
        raise ValueError("cannot resample an empty trajectory")
    if not np.all(np.isfinite(values)):
        raise ValueError("trajectory has NaN or infinite values")
    if values.size == 1:
        return np.full(points, values[0])
    return np.interp(np.linspace(0.0, values.size - 1, points), np.arange(values.size), values)


def trajectory_distance(predicted: Sequence[float], reference: Sequence[float], points: int) -> float:
    """Mean absolute difference of the two trajectories, each resampled to `points` values."""
    return float(np.mean(np.abs(resample(predicted, points) - resample(reference, points))))


def anchor_reward(predicted: Sequence[float] | None, reference: Sequence[float] | None,
                  config: RewardsConfig | None = None) -> float:
    """R_anchor = exp(-d / scale); 0 when either trajectory is missing or empty."""
    cfg = config or RewardsConfig()
    if not predicted or not reference:
        return 0.0
    return math.exp(-trajectory_distance(predicted, reference, cfg.resample_points) / cfg.anchor_scale)


def reasoning_length(output: BaseModel) -> int:
    """Words in the output's reasoning (its `cot`, or its free text where the family has no cot)."""
    return len(output.reasoning().split()) if isinstance(output, TaskOutput) else 0


def efficiency_reward(length: int, top_half_mean: float | None) -> float:
    """R_eff = 1 when the reasoning is no longer than the top half's mean, else mean / length."""
    if top_half_mean is None or length <= 0 or length <= top_half_mean:
        return 1.0
    return max(0.0, top_half_mean / length)


@dataclass(frozen=True)
class Scored:
    """One output's reward terms before R_eff (which needs its group)."""

    r_format: float
    r_anchor: float
    length: int | None  # None: did not parse
    valid: bool

    def quality(self, cfg: RewardsConfig) -> float:
        return cfg.w_format * self.r_format + cfg.w_anchor * self.r_anchor


def score(family: TaskFamily, ctx: SynthesisContext, raw_text: str, reference: list[float] | None,
          cfg: RewardsConfig) -> Scored:
    try:
        output = family.parse(raw_text)
    except ParseError as exc:
        credit = cfg.schema_error_credit if exc.reason == "schema_mismatch" else 0.0
        return Scored(credit, 0.0, None, False)
    predicted = family.trajectory(ctx, output)
    valid = not family.validate(ctx, output)
    try:
        r_anchor = anchor_reward(predicted, reference, cfg)
    except ValueError as exc:  # a trajectory with NaN cannot come from a parsed output; guard all the same
        log.warning("%s: no anchor reward: %s", family.name, exc)
        r_anchor = 0.0
    return Scored(1.0, r_anchor, reasoning_length(output), valid)


def terms(s: Scored, top_half_mean: float | None, cfg: RewardsConfig) -> dict[str, float]:
    r_eff = 0.0 if s.length is None else efficiency_reward(s.length, top_half_mean)
    total = s.quality(cfg) + cfg.w_eff * r_eff
    return {"r_format": s.r_format, "r_anchor": s.r_anchor, "r_eff": r_eff, "r_total": total,
            "valid": float(s.valid), "reasoning_words": float(s.length or 0)}


def reward_terms(family: TaskFamily, ctx: SynthesisContext, raw_text: str,
                 group_lengths_top_half_mean: float | None, config: RewardsConfig | None = None) -> dict[str, float]:
    """r_format, r_anchor, r_eff, r_total (plus valid and reasoning_words) of one output.

    `group_lengths_top_half_mean`: the mean reasoning length (words) of the top-scoring half of its
    group, or None when unknown (then R_eff = 1 for a parsed output).
    """
    cfg = config or RewardsConfig()
    s = score(family, ctx, raw_text, family.reference_trajectory(ctx), cfg)
    return terms(s, group_lengths_top_half_mean, cfg)


def top_half_mean(scored: Sequence[Scored], cfg: RewardsConfig) -> float | None:
    """Mean reasoning length of the best ceil(n/2) outputs by quality (ties: earlier first); None if none parse."""
    ranked = sorted(range(len(scored)), key=lambda i: (-scored[i].quality(cfg), i))
    top = ranked[: math.ceil(len(scored) / 2)]
    lengths = [n for n in (scored[i].length for i in top) if n is not None]
    return float(np.mean(lengths)) if lengths else None


def group_rewards(family: TaskFamily, ctx: SynthesisContext, raw_texts: list[str],
                  config: RewardsConfig | None = None) -> list[dict[str, float]]:
    """Reward terms of every output of one group (same window and intent), R_eff relative to the group."""
    cfg = config or RewardsConfig()
    reference = family.reference_trajectory(ctx)
    scored = [score(family, ctx, text, reference, cfg) for text in raw_texts]
    mean = top_half_mean(scored, cfg)
    return [terms(s, mean, cfg) for s in scored]
