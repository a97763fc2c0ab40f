"""Scene-cut expert: shot boundaries where both the luma histogram and the pixels jump.

Each signal must beat its own adaptive threshold (sliding median + k * MAD, with a floor), so
camera motion (pixels change, histogram barely does) and slow fades do not count as cuts.
"""

from __future__ import annotations

import logging
import math
from typing import ClassVar

import numpy as np

from agents.extractors.video.expert import VideoExpert
from agents.extractors.video.scene_config import SceneCutConfig
from agents.extractors.video.signals import histogram_distance, mean_abs_diff, robust_threshold
from agents.extractors.video.window import VideoWindow
from core.records import Anchor

log = logging.getLogger(__name__)


class SceneCutExtractor(VideoExpert):
    name: ClassVar[str] = "scene_cut"

    def __init__(self, config: SceneCutConfig) -> None:
        self.config = config

    def extract(self, window: VideoWindow) -> list[Anchor]:
        if len(window) < 2:
            return []
        cfg = self.config
        hist = histogram_distance(window, cfg.histogram_bins, cfg.histogram_step)
        diff = mean_abs_diff(window)
        half = max(1, math.ceil(cfg.window_s * window.fps / 2))
        hist_thr = robust_threshold(hist, half, cfg.mad_k, cfg.min_histogram_distance)
        diff_thr = robust_threshold(diff, half, cfg.mad_k, cfg.min_pixel_diff)
        candidates = np.flatnonzero((hist > hist_thr) & (diff > diff_thr))
        candidates = candidates[candidates > 0]
        keep = self._strongest(candidates, hist, max(1, round(cfg.min_scene_s * window.fps)))
        return [
            self.anchor(
                window, int(p), value=float(hist[p]), content=f"hist={hist[p]:.3f} diff={diff[p]:.1f}"
            )
            for p in keep
        ]

    @staticmethod
    def _strongest(candidates: np.ndarray, score: np.ndarray, min_gap: int) -> list[int]:
        """Greedy non-maximum suppression: strongest first, drop candidates within `min_gap` frames."""
        kept: list[int] = []
        for p in sorted(candidates.tolist(), key=lambda q: -score[q]):
            if all(abs(p - q) >= min_gap for q in kept):
                kept.append(p)
        return sorted(kept)
