"""Settings of the video expert pipeline: which experts run, their settings, and key-frame encoding."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.extractors.video.decode_config import DecodeConfig
from agents.extractors.video.keyframes_config import KeyFrameConfig
from agents.extractors.video.motion_config import MotionConfig, StallConfig
from agents.extractors.video.ocr_config import OcrConfig
from agents.extractors.video.scene_config import SceneCutConfig


class VideoPipelineConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    decode: DecodeConfig = Field(default_factory=DecodeConfig, description="Bounded decoder settings.")
    scene: SceneCutConfig = Field(default_factory=SceneCutConfig, description="Scene-cut expert.")
    key_frames: KeyFrameConfig = Field(default_factory=KeyFrameConfig, description="Key-frame expert.")
    motion: MotionConfig = Field(default_factory=MotionConfig, description="Motion expert.")
    stall: StallConfig = Field(default_factory=StallConfig, description="Stall expert.")
    ocr: OcrConfig = Field(default_factory=OcrConfig, description="OCR expert.")
    ocr_enabled: bool = Field(
        default=False, description="Run OCR on key frames (for screen recordings; about 1 s per frame)."
    )
    frame_format: Literal["jpeg", "png"] = Field(default="jpeg", description="Encoding of stored key frames.")
    jpeg_quality: int = Field(default=90, ge=1, le=95, description="JPEG quality of stored key frames.")
    frame_max_side: int | None = Field(
        default=None,
        ge=16,
        description="Stored key frames are downscaled to this longer side (None: full size).",
    )
