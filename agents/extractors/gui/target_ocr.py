"""Target OCR expert: read the text inside (and just around) each action's target region.

The RapidOCR engine is created on first use, once per process and settings, and only small crops
are read, so the expert stays cheap enough to run on every step.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

import numpy as np
from PIL import Image

from agents.extractors.base import Extractor
from agents.extractors.gui.actions import resolve_target
from agents.extractors.gui.images import crop_box
from agents.extractors.gui.spans import anchor_id
from agents.extractors.gui.target_ocr_config import TargetOcrConfig
from agents.extractors.gui.window import GuiWindow
from core.records import Anchor, BBox, GuiStep

log = logging.getLogger(__name__)

_ENGINE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=2)
def _engine(det_limit_side_len: int, threads: int) -> Any:
    from rapidocr_onnxruntime import RapidOCR  # heavy import, only when OCR is really used

    log.info("creating RapidOCR engine (det side %d, %d threads)", det_limit_side_len, threads)
    return RapidOCR(
        det_limit_side_len=det_limit_side_len,
        det_limit_type="max",
        intra_op_num_threads=threads,
        inter_op_num_threads=threads,
    )


def ocr_lines(pixels: np.ndarray, config: TargetOcrConfig) -> list[tuple[str, float, float, float]]:
    """(text, score, top, left) of each line RapidOCR reads in an RGB array, in reading order."""
    with _ENGINE_LOCK:
        engine = _engine(config.det_limit_side_len, config.threads)
        result, _elapsed = engine(pixels)
    lines: list[tuple[str, float, float, float]] = []
    for points, text, score in result or []:
        if float(score) < config.min_score or not str(text).strip():
            continue
        pts = np.asarray(points, dtype=np.float32)
        lines.append((str(text).strip(), float(score), float(pts[:, 1].min()), float(pts[:, 0].min())))
    # Reading order: rows (half a line height apart) top to bottom, then left to right.
    return sorted(lines, key=lambda ln: (round(ln[2] / 8.0), ln[3]))


def enlarge(crop: Image.Image, upscale_to: int) -> Image.Image:
    """Scale a small crop up (at most 4x) so its longer side reaches `upscale_to`."""
    longest = max(crop.size)
    if upscale_to <= 0 or longest >= upscale_to:
        return crop
    factor = min(4.0, upscale_to / longest)
    size = (max(1, round(crop.width * factor)), max(1, round(crop.height * factor)))
    return crop.resize(size, Image.Resampling.LANCZOS)


def target_region(step: GuiStep, config: TargetOcrConfig, max_distance: float) -> tuple[float, ...] | None:
    """(x, y, w, h) to read: the target's box, else a small square around the action point."""
    target = resolve_target(step, max_distance)
    if target is not None and target.bbox is not None and target.bbox.w > 0 and target.bbox.h > 0:
        box = target.bbox
        return (box.x, box.y, box.w, box.h)
    action = step.action
    if action.x is not None and action.y is not None and action.type not in ("scroll", "swipe"):
        half = config.point_box_px / 2.0
        return (action.x - half, action.y - half, config.point_box_px, config.point_box_px)
    return None


class TargetOcrExtractor(Extractor[GuiWindow]):
    """`target_text` anchors: OCR of the crop around each step's target; value = mean line score."""

    name = "target_ocr"

    def __init__(self, config: TargetOcrConfig | None = None, max_target_distance_px: float = 40.0) -> None:
        self.config = config or TargetOcrConfig()
        self.budget_s = self.config.budget_s
        self.max_target_distance_px = max_target_distance_px

    def extract(self, window: GuiWindow) -> list[Anchor]:
        anchors: list[Anchor] = []
        for i, step in enumerate(window.steps):  # every step, however long it takes (see Extractor.budget_s)
            region = target_region(step, self.config, self.max_target_distance_px)
            if region is None or step.screenshot is None:
                continue
            image = window.screenshot(i)
            if image is None:
                continue
            x, y, w, h = region
            crop = crop_box(image.size, (x, y, w, h), self.config.margin_px, self.config.margin_frac)
            if crop is None:
                continue
            left, top, right, bottom = crop
            if (right - left) * (bottom - top) > self.config.max_crop_pixels:
                log.debug("step %d: target crop %dx%d too large to read", i, right - left, bottom - top)
                continue
            lines = ocr_lines(np.asarray(enlarge(image.crop(crop), self.config.upscale_to)), self.config)
            if not lines:
                continue
            anchors.append(
                Anchor(
                    anchor_id=anchor_id(self.name, "target_text", i),
                    type="target_text",
                    frame_index=i,
                    timestamp=step.timestamp,
                    bbox=BBox(x=left, y=top, w=right - left, h=bottom - top),
                    content=" ".join(text for text, *_ in lines)[:2000],
                    value=float(np.mean([score for _, score, *_ in lines])),
                    evidence_frames=[i],
                )
            )
        return anchors
