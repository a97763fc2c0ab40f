"""Settings of the GUI expert pipeline (one block per expert)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.extractors.gui.actions_config import GuiActionConfig
from agents.extractors.gui.screen_change_config import ScreenChangeConfig
from agents.extractors.gui.segmentation_config import SegmentationConfig
from agents.extractors.gui.target_ocr_config import TargetOcrConfig


class GuiPipelineConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    on_error: Literal["raise", "skip"] = Field(
        default="raise",
        description="On an expert failure: re-raise it, or log it and keep the other anchors.",
    )
    ocr: bool = Field(default=True, description="Run the target OCR expert (RapidOCR on small crops).")
    action: GuiActionConfig = Field(default_factory=GuiActionConfig, description="GUI action expert.")
    screen_change: ScreenChangeConfig = Field(
        default_factory=ScreenChangeConfig, description="Screen-change expert."
    )
    target_ocr: TargetOcrConfig = Field(default_factory=TargetOcrConfig, description="Target OCR expert.")
    segmentation: SegmentationConfig = Field(
        default_factory=SegmentationConfig, description="Multi-event segmentation expert."
    )
