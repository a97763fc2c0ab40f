"""Settings of the screen-change expert."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ScreenChangeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    thumb_size: int = Field(
        default=32, ge=4, le=512, description="Side of the square grayscale thumbnail compared between steps."
    )
    min_change: float = Field(
        default=0.0, ge=0, le=1, description="Pairs whose change is below this emit no anchor (0 keeps all)."
    )
    major_change: float = Field(
        default=0.15,
        ge=0,
        le=1,
        description="Change at or above which the content says `major` (a new screen rather than an update).",
    )
    minor_change: float = Field(
        default=0.01, ge=0, le=1, description="Change below which the content says `none` (screen unchanged)."
    )
