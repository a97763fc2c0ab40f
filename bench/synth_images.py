"""Key frames for the synthesis benchmark's prompts, as the worker would send them to a vision model.

The benchmark cases keep only the sha256 of their key frames, so the frames are made again: each case's
window is re-anchored from its recording (../shared, as `tailor bench build` did), which stores the same
content-addressed frames, and the worker's own choice (`agents.synthesis.frames.load_images`: most salient
first, shrunk to the max side) picks the images.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from agents.synthesis.base import WindowImage
from agents.synthesis.frames import load_images
from bench.build_config import BuildConfig
from bench.case import BenchCase
from bench.windows import RecordCache, WindowAnchorer
from core.limits_config import LimitsConfig

log = logging.getLogger(__name__)


class CaseImages:
    def __init__(self, max_images: int, max_side: int) -> None:
        self.max_images = max_images
        self.max_side = max_side
        self.limits = LimitsConfig()
        # a local store of this run's own (the cases' memory:// store is not one the frame reader may open)
        self.store = tempfile.TemporaryDirectory(prefix="tailor-bench-frames-")
        build = BuildConfig(frame_store_uri=Path(self.store.name).resolve().as_uri())
        self.anchorer = WindowAnchorer(build, RecordCache(build, self.limits))

    def __call__(self, case: BenchCase) -> tuple[WindowImage, ...]:
        sel = case.window
        _, anchors = self.anchorer.select(sel.source, sel.key, sel.first, sel.count)
        kept = {kf.sha256 for kf in case.anchors.key_frames}
        if {kf.sha256 for kf in anchors.key_frames} != kept:
            log.warning("%s: its window's key frames changed since the cases were built", case.case_id)
        return load_images(anchors, self.anchorer.frames, self.max_images, self.max_side, self.limits)
