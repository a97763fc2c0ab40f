"""Settings of the stall expert."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agents.extractors.robot.channels_config import RobotChannelsConfig


class StallConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    channels: RobotChannelsConfig = Field(
        default_factory=RobotChannelsConfig, description="Where the end-effector position is read."
    )
    min_steps: int = Field(default=5, ge=2, description="Shortest run of still steps reported as a stall.")
    still_abs: float = Field(
        default=0.001, ge=0, description="Per-step end-effector motion below this (state units, m) is still."
    )
    still_rel: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Also still: motion below this fraction of the window's 90th-percentile step motion "
        "(the larger of the two thresholds applies).",
    )
    tail_frac: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="Stalls reaching into this final fraction of the window are the finished robot at "
        "rest, not stalls, and are dropped.",
    )
    tail_min_steps: int = Field(default=2, ge=0, description="The final tail is at least this many steps.")
