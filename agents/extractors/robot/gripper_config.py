"""Settings of the gripper event expert (hysteresis relative to the channel's own range)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.extractors.robot.channels_config import RobotChannelsConfig


class GripperConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    channels: RobotChannelsConfig = Field(
        default_factory=RobotChannelsConfig, description="Where the gripper channel is read."
    )
    close_frac: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="A close event fires when the channel falls below this fraction of its range "
        "(0 = fully closed end, 1 = fully open end).",
    )
    open_frac: float = Field(
        default=0.7, gt=0, lt=1, description="An open event fires when the channel rises above this fraction."
    )
    min_relative_span: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="When no range is configured the window's own min..max is used, and only if that span "
        "is at least this fraction of the largest magnitude (so sensor noise on a still gripper is not "
        "an event).",
    )
    value_range: tuple[float, float] | None = Field(
        default=None,
        description="Known (closed, open) range of the channel; None uses the window's min..max.",
    )
    still_closed_abs: float = Field(
        default=0.01,
        ge=0,
        description="A channel that does not move within the window (so it has no range of its own) is taken "
        "as closed when every reading is within this of 0 (a 0 command, fingers shut), else as open.",
    )
    open_is_high: bool = Field(
        default=True, description="True when larger values mean more open (widths, Bridge's 1 = open)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> GripperConfig:
        if self.close_frac >= self.open_frac:
            raise ValueError("close_frac must be below open_frac (hysteresis)")
        if self.value_range is not None and self.value_range[0] == self.value_range[1]:
            raise ValueError("value_range must span a non-zero interval")
        return self
