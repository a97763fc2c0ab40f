"""OCR expert: text lines with pixel boxes on the key frames of screen recordings, and which of them appear.

RapidOCR is slow (about a second per 1024x768 frame on one core), so it reads only the key frames chosen by
the key-frame expert (at most `max_frames`), downscaled to `max_side`. Every chosen frame is read, however
long it takes: anchors must not depend on how busy the machine is (`budget_s` only counts overruns).

A line read on key frame k is a claim that the text is *visible* at k (`ocr_text`). It is a claim that the
text *appears* (`text_appears`) only where the screen shows it absent before: the box's pixels (on the
analysis frames) are followed back to the first frame f of k's shot-like run where they last changed, and the
crop of the box at f - 1 is read again; the text appears at f when OCR does not read it there. Text on
screen since the window's first frame, or already readable before the change, stays "visible". A dialog
that opens at frame 88 yields appearances at 88; a panel label on screen from frame 0 does not.
"""

from __future__ import annotations

import functools
import logging
from difflib import SequenceMatcher
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
        self.budget_s = config.budget_s

    def extract(self, window: VideoWindow) -> list[Anchor]:
        positions = sorted(self.frame_order(window)[: self.config.max_frames])
        images = window.rgb(positions)
        lines = {p: self.lines(images[p]) for p in positions}
        firsts = {
            (p, i): first_unchanged(window, p, images[p].shape[:2], box)
            for p in positions
            for i, (_, _, box) in enumerate(lines[p])
        }
        before = window.rgb(sorted({f - 1 for f in firsts.values() if f > 0}))
        anchors: list[Anchor] = []
        appeared: dict[tuple[int, str], int] = {}  # one appearance seen on two key frames is one anchor
        for p in positions:
            for i, (text, score, box) in enumerate(lines[p]):
                first = firsts[(p, i)]
                if first > 0 and not self.reads(before[first - 1], box, text):
                    seen = appeared.get((first, squash(text)))
                    if seen is not None:  # the later key frame is more evidence of the same event
                        evidence = sorted({*anchors[seen].evidence_frames, int(window.indices[p])})
                        anchors[seen] = anchors[seen].model_copy(update={"evidence_frames": evidence})
                        continue
                    anchor = self.anchor(
                        window,
                        first,
                        kind="text_appears",
                        value=score,
                        content=text,
                        bbox=box,
                        suffix=f"{p}.{i}",
                    )
                    evidence = sorted(
                        {int(window.indices[first - 1]), anchor.frame_index, int(window.indices[p])}
                    )
                    appeared[(first, squash(text))] = len(anchors)
                    anchors.append(anchor.model_copy(update={"evidence_frames": evidence}))
                else:
                    anchors.append(self.anchor(window, p, value=score, content=text, bbox=box, suffix=str(i)))
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

    def lines(self, rgb: np.ndarray) -> list[tuple[str, float, BBox]]:
        """(text, score, box in the frame's own pixels) of each line read on one frame, in RapidOCR's order."""
        small, scale = fit_side(rgb, self.config.max_side)
        bgr = np.ascontiguousarray(small[:, :, ::-1])
        result, _ = ocr_engine(self.config.threads)(bgr)
        out: list[tuple[str, float, BBox]] = []
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
            out.append((text[:2000], float(score), box))
        return out

    def reads(self, rgb: np.ndarray, box: BBox, text: str) -> bool:
        """Whether the box's crop of this frame reads as `text` (case and spacing aside, 80 % alike).
        Recognition only (no detection pass): the crop is one line, and a detection pass would enlarge
        it to the detector's size (seconds per crop, measured)."""
        h, w = rgb.shape[:2]
        pad = max(2.0, box.h * 0.25)
        left, top = max(0, int(box.x - pad)), max(0, int(box.y - pad))
        right, bottom = min(w, int(box.x + box.w + pad) + 1), min(h, int(box.y + box.h + pad) + 1)
        if right - left < 2 or bottom - top < 2:
            return False
        crop = np.ascontiguousarray(rgb[top:bottom, left:right, ::-1])
        result, _ = ocr_engine(self.config.threads)(crop, use_det=False, use_cls=False, use_rec=True)
        found = squash(str(result[0][0])) if result else ""
        return SequenceMatcher(None, squash(text), found).ratio() >= 0.8


def squash(text: str) -> str:
    return "".join(text.split()).casefold()


def first_unchanged(
    window: VideoWindow, position: int, frame_size: tuple[int, int], box: BBox, tolerance: float = 6.0
) -> int:
    """The earliest position from which the box's pixels (analysis luma) stay as they are at `position`:
    walking back, the first frame whose region differs from `position`'s by more than `tolerance` (mean
    absolute luma) ends the run."""
    luma = window.luma
    frame_h, frame_w = frame_size
    sy, sx = luma.shape[1] / frame_h, luma.shape[2] / frame_w
    top, left = int(box.y * sy), int(box.x * sx)
    bottom = max(top + 1, int(np.ceil((box.y + box.h) * sy)))
    right = max(left + 1, int(np.ceil((box.x + box.w) * sx)))
    region = luma[: position + 1, top:bottom, left:right].astype(np.int16)
    changed = np.abs(region - region[-1]).reshape(position + 1, -1).mean(axis=1) > tolerance
    earlier = np.flatnonzero(changed)
    return int(earlier[-1]) + 1 if len(earlier) else 0
