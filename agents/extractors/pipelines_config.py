"""Settings of the three domain expert pipelines as the anchor stage runs them (`TAILOR_EXTRACTORS__<DOMAIN>__...`
in the environment, `[extractors.<domain>]` in the config file; streaming/anchor_stage.py `anchorings()`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agents.extractors.gui.pipeline_config import GuiPipelineConfig
from agents.extractors.robot.pipeline_config import RobotPipelineConfig
from agents.extractors.video.pipeline_config import VideoPipelineConfig


class AnchorVideoConfig(VideoPipelineConfig):
    """The video pipeline of the anchor stage: the same settings, with the stage's defaults (key frames stored
    at most 640 px on the longer side, OCR on the windows that look like screen recordings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    ocr_enabled: bool = Field(
        default=True,
        description="Run OCR on the key frames of windows that look like screen recordings (about 1 s per "
        "frame); only where TAILOR_OCR_ENABLED is true too.",
    )
    frame_max_side: int | None = Field(
        default=640,
        ge=16,
        description="Stored key frames are downscaled to this longer side (None: full size).",
    )


class ExtractorsConfig(BaseModel):
    """One block per domain pipeline. The flat TAILOR_OCR_ENABLED stays the worker-wide OCR switch: an OCR
    expert runs only where it and the pipeline's own flag (`gui.ocr`, `video.ocr_enabled`) are both true."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    robot: RobotPipelineConfig = Field(
        default_factory=RobotPipelineConfig,
        description="Robot experts: gripper events, contact/lift, stalls, subtask boundaries, camera key frames.",
    )
    gui: GuiPipelineConfig = Field(
        default_factory=GuiPipelineConfig,
        description="GUI experts: actions, screen changes, target OCR (`ocr`), multi-event segmentation.",
    )
    video: AnchorVideoConfig = Field(
        default_factory=AnchorVideoConfig,
        description="Video experts: bounded decoding, scene cuts, key frames, motion, stalls, OCR "
        "(`ocr_enabled`), and the encoding of stored key frames.",
    )

    def with_ocr(self, enabled: bool) -> ExtractorsConfig:
        """These settings under the worker-wide OCR switch: with `enabled` false no OCR expert runs."""
        return self.model_copy(
            update={
                "gui": self.gui.model_copy(update={"ocr": self.gui.ocr and enabled}),
                "video": self.video.model_copy(update={"ocr_enabled": self.video.ocr_enabled and enabled}),
            }
        )
