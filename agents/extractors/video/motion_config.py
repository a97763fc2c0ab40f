"""Settings of the motion and stall experts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MotionConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    level_edges: tuple[float, float, float] = Field(
        default=(0.5, 3.0, 10.0),
        description="Mean absolute frame difference (grey levels) separating static / low / medium / high.",
    )


class StallConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_mean_diff: float = Field(
        default=0.6,
        ge=0,
        description="A frame pair is static below this mean absolute difference (grey levels).",
    )
    pixel_level: int = Field(
        default=12, ge=0, le=255, description="A pixel changed when its luma moved by more than this."
    )
    max_changed_fraction: float = Field(
        default=0.002, ge=0, le=1, description="A frame pair is static below this fraction of changed pixels."
    )
    min_duration_s: float = Field(default=1.0, gt=0, description="Shortest static span reported.")
