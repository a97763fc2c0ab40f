"""Settings of the robot expert pipeline (one block per expert)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.extractors.robot.contact_lift_config import ContactLiftConfig
from agents.extractors.robot.gripper_config import GripperConfig
from agents.extractors.robot.key_frames_config import KeyFrameConfig
from agents.extractors.robot.stall_config import StallConfig
from agents.extractors.robot.subtasks_config import SubtaskConfig


class RobotPipelineConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    on_error: Literal["raise", "skip"] = Field(
        default="raise",
        description="On an expert failure: re-raise it, or log it and keep the other anchors.",
    )
    gripper: GripperConfig = Field(default_factory=GripperConfig, description="Gripper event expert.")
    contact_lift: ContactLiftConfig = Field(
        default_factory=ContactLiftConfig, description="Contact / lift proxy expert."
    )
    stall: StallConfig = Field(default_factory=StallConfig, description="Stall expert.")
    subtasks: SubtaskConfig = Field(default_factory=SubtaskConfig, description="Subtask boundary expert.")
    key_frames: KeyFrameConfig = Field(default_factory=KeyFrameConfig, description="Camera key-frame expert.")
