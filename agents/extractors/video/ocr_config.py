"""Settings of the OCR expert (RapidOCR, PP-OCRv4 ONNX, on key frames only)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OcrConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_frames: int = Field(default=8, ge=0, description="Most key frames read per window (OCR is slow).")
    max_side: int = Field(
        default=1280, ge=32, description="Key frames are downscaled so their longer side is at most this."
    )
    min_confidence: float = Field(
        default=0.6, ge=0, le=1, description="Text lines below this score are dropped."
    )
    min_chars: int = Field(
        default=2, ge=1, description="Text lines shorter than this (icons, glyph noise) are dropped."
    )
    budget_s: float = Field(
        default=30.0,
        gt=0,
        description="Soft OCR time per window: going past it is logged and counted "
        "(tailor_extraction_budget_overruns_total); every chosen frame is still read, so anchors do not depend "
        "on load (max_frames bounds the work).",
    )
    threads: int = Field(default=0, ge=0, le=64, description="onnxruntime intra-op threads; 0 = all cores.")
