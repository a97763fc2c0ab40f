"""How the rule baseline picks a motion-rich segment for a world-model sample."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WorldModelSampleConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    sample_frames: int = Field(default=8, ge=2, le=32, description="Frames sampled evenly over the segment.")
    min_segment_frames: int = Field(default=4, ge=2, description="Shortest segment worth sampling.")
    max_segment_frames: int = Field(
        default=64, ge=2, description="A longer motion span is cut to its first this-many frames."
    )
    max_plan_steps: int = Field(default=12, ge=1, le=16, description="Most motion-plan entries.")
