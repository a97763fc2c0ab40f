"""Settings of the scene-cut expert."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SceneCutConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    histogram_bins: int = Field(default=64, description="Luma histogram bins (a power of two up to 256).")
    histogram_step: int = Field(
        default=2, ge=1, description="Histograms count every n-th analysis pixel in each direction."
    )
    window_s: float = Field(
        default=2.0, gt=0, description="Width of the centred sliding window the adaptive threshold looks at."
    )
    mad_k: float = Field(
        default=6.0,
        gt=0,
        description="A cut stands this many robust deviations (1.4826 x MAD) above the median.",
    )
    min_histogram_distance: float = Field(
        default=0.1, ge=0, le=1, description="Floor of the histogram-distance threshold (0..1)."
    )
    min_pixel_diff: float = Field(
        default=8.0,
        ge=0,
        le=255,
        description="Floor of the mean-absolute-difference threshold (grey levels).",
    )
    min_scene_s: float = Field(
        default=0.4, ge=0, description="Cuts closer than this keep only the strongest (flashes, glitches)."
    )
