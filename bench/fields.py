"""S_field: how much of the reference's structure the prediction fills, and how little it adds.

Leaves are the non-null, non-empty scalar values of a JSON object, named by their path (`a.b`, list
items by index: `actions[2].bbox.x`); null, "" and empty lists / objects are absent. With R the
reference's leaf paths and P the prediction's:

    coverage = |R ∩ P| / |R|          extraneous = |P − R| / |P|  (0 when P is empty)
    S_field  = c · coverage + (1 − c) · (1 − extraneous)          (c = 0.7)

Values are not compared here (S_semantic and S_traj do that); a prediction that is not a JSON object
has no leaves (S_field = 0 when the reference has any).
"""

from __future__ import annotations

from typing import Any


def leaf_paths(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        out: set[str] = set()
        for key, item in value.items():
            out |= leaf_paths(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list):
        out = set()
        for i, item in enumerate(value):
            out |= leaf_paths(item, f"{prefix}[{i}]")
        return out
    if value is None or value == "":
        return set()
    return {prefix or "<root>"}


def field_terms(reference: dict[str, Any], prediction: Any) -> tuple[float, float]:
    """(coverage, extraneous ratio) of the prediction against the reference."""
    ref = leaf_paths(reference)
    pred = leaf_paths(prediction) if isinstance(prediction, dict) else set()
    coverage = len(ref & pred) / len(ref) if ref else 1.0
    extraneous = len(pred - ref) / len(pred) if pred else 0.0
    return coverage, extraneous


def field_score(reference: dict[str, Any], prediction: Any, coverage_weight: float) -> float:
    if not isinstance(prediction, dict):
        return 0.0
    coverage, extraneous = field_terms(reference, prediction)
    return coverage_weight * coverage + (1.0 - coverage_weight) * (1.0 - extraneous)
