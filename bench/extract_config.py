"""Settings of the extraction benchmark (`tailor bench extract`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agents.extractors.video.pipeline_config import VideoPipelineConfig


class BenchExtractConfig(BaseModel):
    repeats: int = Field(default=5, ge=1, le=100, description="Timed runs of each pass; the median counts.")
    warmup: int = Field(default=1, ge=0, le=10, description="Untimed runs of each pass first.")
    pipeline: VideoPipelineConfig = Field(
        default_factory=VideoPipelineConfig,
        description="Extraction settings (OCR is always off in the benchmark; threads come from the call).",
    )
