"""OCR expert: text lines with pixel boxes on the key frames of screen recordings.

RapidOCR is slow (about a second per 1024x768 frame on one core), so it reads only the key frames
chosen by the key-frame expert, downscaled to `max_side`, and stops when the window's time budget
is spent. The engine is built once per process and thread setting, on first use.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from agents.extractors.video.expert import VideoExpert
from agents.extractors.video.ocr_config import OcrConfig
from agents.extractors.video.window import VideoWindow
from core.records import Anchor, BBox

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def ocr_engine(threads: int) -> Any:
    """The process-wide RapidOCR engine for this thread setting (imported and built on first use)."""
    from rapidocr_onnxruntime import RapidOCR

    n = threads if threads > 0 else -1
    return RapidOCR(intra_op_num_threads=n, inter_op_num_threads=n)


def fit_side(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image scaled down so its longer side is at most `max_side`, and the scale applied."""
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return rgb, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS)), scale


class OcrExtractor(VideoExpert):
    name: ClassVar[str] = "ocr_text"
    requires: ClassVar[tuple[str, ...]] = ("key_frame",)

    def __init__(self, config: OcrConfig) -> None:
        self.config = config

    def extract(self, window: VideoWindow) -> list[Anchor]:
        cfg = self.config
        positions = self.frame_order(window)[: cfg.max_frames]
        started = time.perf_counter()
        anchors: list[Anchor] = []
        for done, position in enumerate(positions):
            if time.perf_counter() - started > cfg.budget_s:
                log.warning(
                    "ocr budget of %.1f s spent: %d of %d key frames skipped",
                    cfg.budget_s,
                    len(positions) - done,
                    len(positions),
                )
                break
            rgb = window.rgb([position])[position]
            anchors.extend(self.read(window, position, rgb))
        return anchors

    @staticmethod
    def frame_order(window: VideoWindow) -> list[int]:
        """Key-frame positions, those of the longest shots (most screen time) first."""
        shots = window.segments()
        keyed = []
        for anchor in window.anchors_of("key_frame"):
            position = window.position_of(anchor.frame_index)
            length = next((last - first + 1 for first, last in shots if first <= position <= last), 0)
            keyed.append((-length, position))
        return [position for _, position in sorted(keyed)]

    def read(self, window: VideoWindow, position: int, rgb: np.ndarray) -> list[Anchor]:
        """The text lines of one frame as `ocr_text` anchors, boxes in the frame's own pixels."""
        small, scale = fit_side(rgb, self.config.max_side)
        bgr = np.ascontiguousarray(small[:, :, ::-1])
        result, _ = ocr_engine(self.config.threads)(bgr)
        anchors: list[Anchor] = []
        for quad, text, score in result or []:
            text = " ".join(str(text).split())
            if float(score) < self.config.min_confidence or len(text) < self.config.min_chars:
                continue
            pts = np.asarray(quad, np.float64) / scale
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            box = BBox(
                x=round(float(x0), 1),
                y=round(float(y0), 1),
                w=round(float(x1 - x0), 1),
                h=round(float(y1 - y0), 1),
            )
            anchors.append(
                self.anchor(
                    window,
                    position,
                    value=float(score),
                    content=text[:2000],
                    bbox=box,
                    suffix=str(len(anchors)),
                )
            )
        return anchors
