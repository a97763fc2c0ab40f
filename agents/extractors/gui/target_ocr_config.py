"""Settings of the target OCR expert (RapidOCR on small crops around each action's target)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TargetOcrConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    margin_px: float = Field(default=8.0, ge=0, description="Pixels added on each side of the target box.")
    margin_frac: float = Field(
        default=0.15, ge=0, le=2, description="Extra margin as a fraction of the box's width / height."
    )
    point_box_px: float = Field(
        default=64.0,
        gt=0,
        description="Side of the square read around the action point when the step has no target box.",
    )
    max_crop_pixels: int = Field(
        default=160_000,
        gt=0,
        description="Crops larger than this (width x height) are skipped: the expert reads small targets "
        "only.",
    )
    upscale_to: int = Field(
        default=192,
        ge=0,
        description="Crops whose longer side is below this are enlarged (up to 4x) before reading: screen "
        "text is often only a few pixels tall. 0 disables it.",
    )
    min_score: float = Field(default=0.5, ge=0, le=1, description="OCR lines scored below this are dropped.")
    det_limit_side_len: int = Field(
        default=320, ge=32, description="Longest side the text detector works at (keeps each read cheap)."
    )
    budget_s: float = Field(
        default=10.0,
        gt=0,
        description="Soft OCR time per window: going past it is logged and counted "
        "(tailor_extraction_budget_overruns_total); every step is still read, so anchors do not depend on load.",
    )
    threads: int = Field(default=1, ge=1, le=64, description="ONNX Runtime threads of the OCR engine.")
