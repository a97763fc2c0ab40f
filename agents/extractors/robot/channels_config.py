"""Where the experts find the gripper and the end-effector position in a robot step."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RobotChannelsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    gripper_source: Literal["auto", "gripper", "action", "state"] = Field(
        default="auto",
        description="Gripper channel: `gripper` is RobotStep.gripper, `action` / `state` take "
        "`gripper_index` of that vector; `auto` prefers RobotStep.gripper, then the action's last dim.",
    )
    gripper_index: int = Field(
        default=-1,
        description="Index of the gripper in the action or state vector (negative counts from the end).",
    )
    position_dims: tuple[int, int, int] = Field(
        default=(0, 1, 2),
        description="State indices of the end-effector x, y, z (used when state_names do not name x/y/z).",
    )
