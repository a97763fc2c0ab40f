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
    detail_size: int = Field(
        default=256,
        ge=16,
        le=2048,
        description="Width of the grayscale image (aspect kept) compared tile by tile for local edits.",
    )
    tile_size: int = Field(
        default=8, ge=2, le=256, description="Side of one compared tile, in detail pixels."
    )
    local_change: float = Field(
        default=0.08,
        ge=0,
        le=1,
        description="A tile whose mean change reaches this is an edit: the pair is at least `minor` even when "
        "the whole-screen change is below minor_change (typing over a selected line moved the 32 px "
        "thumbnail by 0.006), and the anchor's bbox bounds the edited tiles.",
    )
