"""Screen-change expert: how much the screen changed between consecutive screenshots."""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image

from agents.extractors.base import Extractor
from agents.extractors.gui.images import gray_thumbnail
from agents.extractors.gui.screen_change_config import ScreenChangeConfig
from agents.extractors.gui.spans import anchor_id
from agents.extractors.gui.window import GuiWindow
from core.records import Anchor, BBox

log = logging.getLogger(__name__)


def change_magnitude(before: np.ndarray, after: np.ndarray) -> float:
    """Mean absolute difference of two same-shape thumbnails in [0, 1], clipped to [0, 1]."""
    if before.shape != after.shape:
        raise ValueError(f"thumbnail shapes differ: {before.shape} vs {after.shape}")
    value = float(np.mean(np.abs(before.astype(np.float32) - after.astype(np.float32))))
    return min(1.0, max(0.0, value))


def gray_detail(image: Image.Image, width: int, max_rows: int) -> np.ndarray:
    """Grayscale float32 in [0, 1], `width` wide with the screenshot's aspect kept (at most `max_rows`
    tall): a squashed full-page capture (1280x5808) would shrink a text field to under a pixel."""
    rows = max(1, min(max_rows, round(width * image.height / max(1, image.width))))
    small = image.convert("L").resize((width, rows), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.float32) / 255.0


def edited_tiles(before: np.ndarray, after: np.ndarray, tile: int, threshold: float) -> np.ndarray:
    """Boolean grid: tiles (tile x tile pixels of two same-shape detail images) whose mean change reaches
    `threshold`. A local edit (a typed word, a toggled checkbox) moves a few tiles a lot and the whole
    screen's mean hardly at all."""
    h, w = before.shape[0] // tile * tile, before.shape[1] // tile * tile
    diff = np.abs(before[:h, :w] - after[:h, :w]).reshape(h // tile, tile, w // tile, tile)
    return np.asarray(diff.mean(axis=(1, 3)) >= threshold)


def edit_box(
    tiles: np.ndarray, tile: int, detail: tuple[int, int], image_size: tuple[int, int]
) -> BBox | None:
    """The box (screenshot pixels) bounding the edited tiles of a (rows, cols) detail image, or None."""
    rows, cols = np.nonzero(tiles)
    if len(rows) == 0:
        return None
    sx, sy = image_size[0] / detail[1], image_size[1] / detail[0]
    x0, x1 = cols.min() * tile * sx, (cols.max() + 1) * tile * sx
    y0, y1 = rows.min() * tile * sy, (rows.max() + 1) * tile * sy
    return BBox(x=round(x0, 1), y=round(y0, 1), w=round(x1 - x0, 1), h=round(y1 - y0, 1))


class ScreenChangeExtractor(Extractor[GuiWindow]):
    """`screen_change` spans (i, i+1) with the change magnitude as value, for every screenshot pair."""

    name = "screen_change"

    def __init__(self, config: ScreenChangeConfig | None = None) -> None:
        self.config = config or ScreenChangeConfig()

    def _level(self, value: float, edited: bool) -> str:
        if value >= self.config.major_change:
            return "major"
        return "minor" if value >= self.config.minor_change or edited else "none"

    def extract(self, window: GuiWindow) -> list[Anchor]:
        cfg = self.config
        thumbs: list[tuple[np.ndarray, np.ndarray, tuple[int, int]] | None] = []
        for i in range(len(window.steps)):
            image = window.screenshot(i)
            thumbs.append(
                None
                if image is None
                else (
                    gray_thumbnail(image, cfg.thumb_size),
                    gray_detail(image, cfg.detail_size, 8 * cfg.detail_size),
                    image.size,
                )
            )
        anchors: list[Anchor] = []
        for i in range(len(thumbs) - 1):
            before, after = thumbs[i], thumbs[i + 1]
            if before is None or after is None:
                continue
            value = change_magnitude(before[0], after[0])
            if before[1].shape != after[1].shape:  # another screen size: not an edit of the same screen
                tiles = np.ones((1, 1), bool)
            else:
                tiles = edited_tiles(before[1], after[1], cfg.tile_size, cfg.local_change)
            # the edit's box only when the change is local (a quarter of the screen at most)
            box = edit_box(tiles, cfg.tile_size, before[1].shape, after[2]) if tiles.mean() <= 0.25 else None
            if value < cfg.min_change and box is None:
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
                    content=self._level(value, bool(tiles.any())),
                    bbox=box,
                    evidence_frames=[i, i + 1],
                )
            )
        return anchors
