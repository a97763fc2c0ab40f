"""Aggregates of case scores: means over all cases of a group (a case whose output does not parse
counts 0 in every S term; a case whose output the validators reject counts 0 in S_accepted);
`pass_rate` is the share of all cases whose output parses and passes the validators; grounding precision,
density and `validator_pass` (the share of parsed outputs the validators accept) are means over the cases
where they are defined (parsed outputs), with the count of those cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.scoring import CaseScore

METRICS = ("g_json", "s_field", "s_semantic", "s_traj", "s_total", "s_accepted")
DIGITS = 4


def mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), DIGITS) if values else None


def summary(scores: list[CaseScore]) -> dict[str, Any]:
    out: dict[str, Any] = {"cases": len(scores)}
    for metric in METRICS:
        out[metric] = mean([getattr(s, metric) for s in scores])
    grounded = [s.grounding_precision for s in scores if s.grounding_precision is not None]
    dense = [s.density for s in scores if s.density is not None and s.g_json > 0]
    valid = [s.valid for s in scores if s.valid is not None]
    out["pass_rate"] = mean([s.passed for s in scores])
    out.update(
        grounding_precision=mean(grounded),
        grounding_cases=len(grounded),
        density_tokens_per_s=mean(dense),
        validator_pass=mean(valid),
    )
    return out


def grouped(scores: list[CaseScore], key: Callable[[CaseScore], str]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[CaseScore]] = {}
    for s in scores:
        groups.setdefault(key(s), []).append(s)
    return {k: summary(v) for k, v in sorted(groups.items())}


def report(scores: list[CaseScore]) -> dict[str, Any]:
    """Overall figures, `by_domain`, `by_family` and `per_case`."""
    return {
        **summary(scores),
        "by_domain": grouped(scores, lambda s: s.domain),
        "by_family": grouped(scores, lambda s: s.family),
        "per_case": [
            {k: (round(v, DIGITS) if isinstance(v, float) else v) for k, v in s.as_dict().items()}
            for s in scores
        ],
    }
