"""Key-frame expert: one representative frame per shot (closest to the shot's per-pixel median luma)."""

from __future__ import annotations

import logging
import math
from typing import ClassVar

import numpy as np

from agents.extractors.video.expert import VideoExpert
from agents.extractors.video.keyframes_config import KeyFrameConfig
from agents.extractors.video.window import VideoWindow
from core.records import Anchor

log = logging.getLogger(__name__)


class KeyFrameExtractor(VideoExpert):
    name: ClassVar[str] = "key_frame"
    requires: ClassVar[tuple[str, ...]] = ("scene_cut",)

    def __init__(self, config: KeyFrameConfig) -> None:
        self.config = config

    def extract(self, window: VideoWindow) -> list[Anchor]:
        anchors: list[Anchor] = []
        for first, last in window.segments():
            position, distance = self.choose(window, first, last)
            content = f"shot {int(window.indices[first])}-{int(window.indices[last])}"
            anchors.append(self.anchor(window, position, value=distance, content=content))
        return anchors

    def choose(self, window: VideoWindow, first: int, last: int) -> tuple[int, float]:
        """The position in [first, last] closest to the shot's median luma, and its distance (grey levels)."""
        margin = math.ceil(self.config.edge_margin_s * window.fps)
        lo, hi = (first + margin, last - margin) if last - first > 2 * margin else (first, last)
        candidates = np.arange(lo, hi + 1)
        if self.config.prefer_kept_frames:
            kept = [p for p in candidates.tolist() if p in window.retained_positions]
            if kept:
                candidates = np.array(kept)
        samples = np.unique(
            np.linspace(first, last, min(self.config.median_samples, last - first + 1)).round()
        )
        typical = np.median(window.luma[samples.astype(np.intp)], axis=0)
        distance = np.abs(window.luma[candidates].astype(np.float32) - typical.astype(np.float32)).mean(
            axis=(1, 2)
        )
        best = int(np.argmin(distance))
        return int(candidates[best]), float(distance[best])
