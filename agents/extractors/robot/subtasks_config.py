"""Settings of the robot subtask boundary expert."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agents.extractors.robot.gripper_config import GripperConfig
from agents.extractors.robot.stall_config import StallConfig


class SubtaskConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    gripper: GripperConfig = Field(default_factory=GripperConfig, description="Gripper channel and events.")
    stall: StallConfig = Field(default_factory=StallConfig, description="How still steps are found.")
    pause_steps: int = Field(
        default=8,
        ge=2,
        description="A still run at least this long (before the tail) is its own `pause` subtask.",
    )
