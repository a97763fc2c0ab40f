"""The GUI expert pipeline: actions, screen change, target OCR, app / site transitions, segmentation, then the
installed plug-in experts of the gui domain (agents.extractors.plugins)."""

from __future__ import annotations

import logging

from agents.extractors.base import Extractor
from agents.extractors.gui.actions import GuiActionExtractor
from agents.extractors.gui.expert_pipeline import ExpertPipeline
from agents.extractors.gui.pipeline_config import GuiPipelineConfig
from agents.extractors.gui.screen_change import ScreenChangeExtractor
from agents.extractors.gui.segmentation import SegmentationExtractor
from agents.extractors.gui.target_ocr import TargetOcrExtractor
from agents.extractors.gui.transitions import AppTransitionExtractor
from agents.extractors.gui.window import GuiWindow
from agents.extractors.plugins import plugin_experts

log = logging.getLogger(__name__)


class GuiExpertPipeline(ExpertPipeline[GuiWindow]):
    """Anchors of one GUI window from the standard GUI experts (or any list given)."""

    @classmethod
    def default(cls, config: GuiPipelineConfig | None = None) -> GuiExpertPipeline:
        cfg = config or GuiPipelineConfig()
        steps: list[Extractor[GuiWindow]] = [
            GuiActionExtractor(cfg.action),
            ScreenChangeExtractor(cfg.screen_change),
            AppTransitionExtractor(),
            SegmentationExtractor(cfg.segmentation),
        ]
        if cfg.ocr:
            steps.insert(2, TargetOcrExtractor(cfg.target_ocr, cfg.action.max_target_distance_px))
        steps.extend(plugin_experts("gui", [s.name for s in steps] + [TargetOcrExtractor.name]))
        return cls(steps, on_error=cfg.on_error)
