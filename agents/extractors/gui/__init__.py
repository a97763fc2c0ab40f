"""Bottom-up GUI experts: each turns a window of one session's steps into typed anchors."""

from agents.extractors.gui.actions import GuiActionExtractor
from agents.extractors.gui.expert_pipeline import ExpertPipeline
from agents.extractors.gui.pipeline import GuiExpertPipeline
from agents.extractors.gui.pipeline_config import GuiPipelineConfig
from agents.extractors.gui.screen_change import ScreenChangeExtractor
from agents.extractors.gui.segmentation import SegmentationExtractor
from agents.extractors.gui.spans import partition_problems
from agents.extractors.gui.target_ocr import TargetOcrExtractor
from agents.extractors.gui.transitions import AppTransitionExtractor
from agents.extractors.gui.window import GuiWindow

__all__ = [
    "AppTransitionExtractor",
    "ExpertPipeline",
    "GuiActionExtractor",
    "GuiExpertPipeline",
    "GuiPipelineConfig",
    "GuiWindow",
    "ScreenChangeExtractor",
    "SegmentationExtractor",
    "TargetOcrExtractor",
    "partition_problems",
]
