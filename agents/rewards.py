"""Rewards of synthesised examples (stage 3), following the paper's terms:

    R_base = 0.7·R_format + 1.0·R_anchor + 0.3·R_eff
    R      = R_base                      when the output passes the family's validators
             R_base − (0.7 + 1.0 + 0.3)  when it does not

- Validity enters R: an invalid output scores R_base minus the largest R_base possible, so it is at most
  0 while a valid output is at least w_format (it parses); an invalid candidate never beats a valid one,
  and invalid candidates still rank among themselves (a signal for RL from a weak model).
- R_format: 1 when the text parses into the family's schema; `schema_error_credit` (default 0) for valid
  JSON that fails the schema; 0 otherwise (not JSON, too large, too deep).
- R_anchor = exp(-d / 0.10) measures agreement with the window's facts, not with another model's output:
  the output's cited frames (its grounded cites: evidence, steps, actions, plan frames...) and the family's
  target frames (`family.anchor_targets`: the anchors of the kinds the family is about) are normalised to
  [0, 1] by the window length; d is the mean distance from each cited frame to the nearest target, and for
  families that should cover every target (`covers_targets`: tutorials, action lists) the mean of that and
  the mean distance from each target to the nearest cited frame. When the window has no target for the
  family the term is left out: R_base is then (w_format·R_format + w_eff·R_eff) scaled by
  (w_format + w_anchor + w_eff) / (w_format + w_eff), so windows with and without targets share a scale.
- R_eff: with L the output's reasoning length in words (its `cot`, or its free text for families without
  one) and M the mean reasoning length of the top-scoring half of its group (examples for the same window
  and intent, ranked by validity, then w_format·R_format + w_anchor·R_anchor, ties by position,
  ceil(n/2) of them): R_eff = 1 when L <= M (or L = 0, or M unknown), else M / L. A group of one is its own
  top half (R_eff = 1). An output that does not parse has no reasoning: R_eff = 0.

`anchor_reward` (trajectory against trajectory, each resampled to 50 points) stays for the benchmark's
S_traj, which compares an output with a case's annotated reference.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from agents.rewards_config import RewardsConfig
from agents.tasks.anchor_view import norm
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


def anchor_reward(
    predicted: Sequence[float] | None, reference: Sequence[float] | None, config: RewardsConfig | None = None
) -> float:
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


def nearest_gap(points: Sequence[float], targets: Sequence[float]) -> float:
    """Mean over `points` of the distance to the nearest of `targets` (both non-empty)."""
    t = np.asarray(sorted(targets), dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    if p.size == 0 or t.size == 0:
        raise ValueError("nearest_gap needs points and targets")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(t))):
        raise ValueError("non-finite frame positions")
    return float(np.mean(np.min(np.abs(p[:, None] - t[None, :]), axis=1)))


def fact_agreement(
    cited: Sequence[int],
    targets: Sequence[int],
    num_frames: int,
    covers: bool,
    config: RewardsConfig | None = None,
) -> float | None:
    """R_anchor against the window's facts: exp(-d / scale) (see the module docstring); None without targets."""
    cfg = config or RewardsConfig()
    if not targets:
        return None
    if not cited:
        return 0.0
    p = [norm(f, num_frames) for f in cited]
    t = [norm(f, num_frames) for f in targets]
    d = nearest_gap(p, t)
    if covers:
        d = 0.5 * (d + nearest_gap(t, p))
    return math.exp(-d / cfg.anchor_scale)


@dataclass(frozen=True)
class Scored:
    """One output's reward terms before R_eff (which needs its group)."""

    r_format: float
    r_anchor: float | None  # None: the window has no target for the family (the term is left out)
    length: int | None  # None: did not parse
    valid: bool

    def quality(self, cfg: RewardsConfig) -> float:
        """Validity first, then format and anchor agreement (what ranks a group's top half)."""
        return float(self.valid) * 10.0 + cfg.w_format * self.r_format + cfg.w_anchor * (self.r_anchor or 0.0)


def score(family: TaskFamily, ctx: SynthesisContext, raw_text: str, cfg: RewardsConfig) -> Scored:
    targets = family.anchor_targets(ctx)
    try:
        output = family.parse(raw_text)
    except ParseError as exc:
        credit = cfg.schema_error_credit if exc.reason == "schema_mismatch" else 0.0
        return Scored(credit, 0.0 if targets else None, None, False)
    valid = not family.validate(ctx, output)
    try:
        r_anchor = fact_agreement(
            family.cited_frames(output), targets, ctx.anchors.num_frames, family.covers_targets, cfg
        )
    except ValueError as exc:  # a frame with NaN cannot come from a parsed output; guard all the same
        log.warning("%s: no anchor reward: %s", family.name, exc)
        r_anchor = 0.0
    return Scored(1.0, r_anchor, reasoning_length(output), valid)


def terms(s: Scored, top_half_mean: float | None, cfg: RewardsConfig) -> dict[str, float]:
    r_eff = 0.0 if s.length is None else efficiency_reward(s.length, top_half_mean)
    full = cfg.w_format + cfg.w_anchor + cfg.w_eff
    if s.r_anchor is None:
        present = cfg.w_format + cfg.w_eff
        base = (cfg.w_format * s.r_format + cfg.w_eff * r_eff) * (full / present if present > 0 else 0.0)
    else:
        base = cfg.w_format * s.r_format + cfg.w_anchor * s.r_anchor + cfg.w_eff * r_eff
    total = base if s.valid else base - full
    out = {
        "r_format": s.r_format,
        "r_eff": r_eff,
        "r_base": base,
        "r_total": total,
        "valid": float(s.valid),
        "reasoning_words": float(s.length or 0),
    }
    if s.r_anchor is not None:
        out["r_anchor"] = s.r_anchor
    return out


def reward_terms(
    family: TaskFamily,
    ctx: SynthesisContext,
    raw_text: str,
    group_lengths_top_half_mean: float | None,
    config: RewardsConfig | None = None,
) -> dict[str, float]:
    """r_format, r_anchor (absent when the window has no target), r_eff, r_base, r_total, valid and
    reasoning_words of one output.

    `group_lengths_top_half_mean`: the mean reasoning length (words) of the top-scoring half of its
    group, or None when unknown (then R_eff = 1 for a parsed output).
    """
    cfg = config or RewardsConfig()
    return terms(score(family, ctx, raw_text, cfg), group_lengths_top_half_mean, cfg)


def top_half_mean(scored: Sequence[Scored], cfg: RewardsConfig) -> float | None:
    """Mean reasoning length of the best ceil(n/2) outputs by quality (ties: earlier first); None if none parse."""
    ranked = sorted(range(len(scored)), key=lambda i: (-scored[i].quality(cfg), i))
    top = ranked[: math.ceil(len(scored) / 2)]
    lengths = [n for n in (scored[i].length for i in top) if n is not None]
    return float(np.mean(lengths)) if lengths else None


def group_rewards(
    family: TaskFamily, ctx: SynthesisContext, raw_texts: list[str], config: RewardsConfig | None = None
) -> list[dict[str, float]]:
    """Reward terms of every output of one group (same window and intent), R_eff relative to the group."""
    cfg = config or RewardsConfig()
    scored = [score(family, ctx, text, cfg) for text in raw_texts]
    mean = top_half_mean(scored, cfg)
    return [terms(s, mean, cfg) for s in scored]
