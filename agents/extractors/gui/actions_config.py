"""Settings of the GUI action expert."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GuiActionConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_text_chars: int = Field(
        default=80, gt=0, description="Target and typed text longer than this is cut in the anchor content."
    )
    max_target_distance_px: float = Field(
        default=40.0,
        ge=0,
        description="When a step names no target, the nearest screen-parse element within this distance of "
        "the action point is taken as the target (0 means the point must lie inside the element).",
    )
    evidence_next_frame: bool = Field(
        default=True, description="Also cite the next step's screenshot, which shows the action's result."
    )
