"""How closely an extracted GUI action must match its anchor."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GuiActionExtractionConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    point_tolerance_px: float = Field(
        default=8.0,
        ge=0,
        description="A cited point within this many pixels of the anchored point matches "
        "(a point inside the anchored target box matches too).",
    )
    min_box_iou: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="A cited box matches when its IoU with the anchored box is at least this.",
    )
    max_actions: int = Field(
        default=24,
        gt=0,
        le=64,
        description="The rule baseline extracts the first this-many actions (a longer window is cut before the "
        "next action), so the prompt lists every action it asks for.",
    )
