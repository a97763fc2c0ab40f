"""Settings of the multi-event segmentation expert."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SegmentationConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    min_phase_steps: int = Field(
        default=3,
        ge=1,
        description="A change of action phase (navigate / input / pointer) cuts a fragment only when the "
        "phases on both sides last at least this many steps.",
    )
    min_goal_overlap: int = Field(
        default=1,
        ge=1,
        description="Content words a step must share with an instruction goal to be assigned to that goal.",
    )
    max_description_chars: int = Field(
        default=120, ge=20, description="Longest subtask description in an anchor's content."
    )
    max_goals: int = Field(
        default=20, ge=1, description="Instruction clauses beyond this are not split further."
    )
