"""The expert pipeline's plumbing: ordering, unique ids, optional OCR, failure handling."""

from __future__ import annotations

import pytest

from agents.extractors.base import ExtractorError
from agents.extractors.gui.actions import GuiActionExtractor
from agents.extractors.gui.expert_pipeline import ExpertPipeline
from agents.extractors.gui.pipeline import GuiExpertPipeline
from agents.extractors.gui.pipeline_config import GuiPipelineConfig
from agents.extractors.gui.target_ocr import TargetOcrExtractor
from agents.extractors.gui.window import GuiWindow


def test_default_pipeline_orders_anchors_by_frame(mind2web_window: GuiWindow) -> None:
    anchors = GuiExpertPipeline.default()(mind2web_window)
    keys = [
        (a.frame_index, a.end_frame_index if a.end_frame_index is not None else a.frame_index)
        for a in anchors
    ]
    assert keys == sorted(keys)
    assert {a.type for a in anchors} == {"gui_action", "target_text", "subtask", "segmentation"}


def test_ocr_can_be_left_out(mind2web_window: GuiWindow) -> None:
    pipeline = GuiExpertPipeline.default(GuiPipelineConfig(ocr=False))
    assert not any(isinstance(step, TargetOcrExtractor) for step in pipeline.steps)
    assert "target_text" not in {a.type for a in pipeline(mind2web_window)}


def test_duplicate_anchor_ids_are_refused(mind2web_window: GuiWindow) -> None:
    with pytest.raises(ExtractorError) as info:
        ExpertPipeline([GuiActionExtractor(), GuiActionExtractor()]).run(mind2web_window)
    assert info.value.reason == "duplicate_anchor_id"
