"""How the rule baseline frames a robot fault (a stall) and its recovery."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RobotFaultRecoveryConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    observation_before: int = Field(
        default=20, ge=0, description="Frames before the stall's start that the observation range also shows."
    )
    max_recovery_frames: int = Field(
        default=30,
        ge=2,
        description="Longest recovery range (it ends earlier where the resumed subtask ends).",
    )
