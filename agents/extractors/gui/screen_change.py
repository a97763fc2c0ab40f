"""Screen-change expert: how much the screen changed between consecutive screenshots."""

from __future__ import annotations

import logging

import numpy as np

from agents.extractors.base import Extractor
from agents.extractors.gui.images import gray_thumbnail
from agents.extractors.gui.screen_change_config import ScreenChangeConfig
from agents.extractors.gui.spans import anchor_id
from agents.extractors.gui.window import GuiWindow
from core.records import Anchor

log = logging.getLogger(__name__)


def change_magnitude(before: np.ndarray, after: np.ndarray) -> float:
    """Mean absolute difference of two same-shape thumbnails in [0, 1], clipped to [0, 1]."""
    if before.shape != after.shape:
        raise ValueError(f"thumbnail shapes differ: {before.shape} vs {after.shape}")
    value = float(np.mean(np.abs(before.astype(np.float32) - after.astype(np.float32))))
    return min(1.0, max(0.0, value))


class ScreenChangeExtractor(Extractor[GuiWindow]):
    """`screen_change` spans (i, i+1) with the change magnitude as value, for every screenshot pair."""

    name = "screen_change"

    def __init__(self, config: ScreenChangeConfig | None = None) -> None:
        self.config = config or ScreenChangeConfig()

    def _level(self, value: float) -> str:
        if value >= self.config.major_change:
            return "major"
        return "minor" if value >= self.config.minor_change else "none"

    def extract(self, window: GuiWindow) -> list[Anchor]:
        size = self.config.thumb_size
        thumbs: list[np.ndarray | None] = []
        for i in range(len(window.steps)):
            image = window.screenshot(i)
            thumbs.append(None if image is None else gray_thumbnail(image, size))
        anchors: list[Anchor] = []
        for i in range(len(thumbs) - 1):
            before, after = thumbs[i], thumbs[i + 1]
            if before is None or after is None:
                continue
            value = change_magnitude(before, after)
            if value < self.config.min_change:
                continue
            anchors.append(
                Anchor(
                    anchor_id=anchor_id(self.name, "screen_change", i, i + 1),
                    type="screen_change",
                    frame_index=i,
                    timestamp=window.steps[i].timestamp,
                    end_frame_index=i + 1,
                    end_timestamp=window.steps[i + 1].timestamp,
                    value=value,
                    content=self._level(value),
                    evidence_frames=[i, i + 1],
                )
            )
        return anchors
