"""Settings of the contact / lift proxy expert."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agents.extractors.robot.gripper_config import GripperConfig


class ContactLiftConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    gripper: GripperConfig = Field(default_factory=GripperConfig, description="Gripper channel and events.")
    closed_value: float = Field(
        default=0.0,
        description="Channel reading of a fully closed, empty gripper (0 for widths and 0/1 commands).",
    )
    contact_min_ratio: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="A closing that settles at or above this fraction of the open reading (measured from "
        "`closed_value`) stopped short of fully closed: something is between the fingers.",
    )
    settle_steps: int = Field(
        default=2, ge=1, description="Steps the channel must stay put after closing to count as settled."
    )
    settle_tol: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Largest change, as a fraction of the open reading, that still counts as staying put.",
    )
    lift_min_rise: float = Field(
        default=0.01,
        gt=0,
        description="End-effector z rise while closed that counts as a lift, in state units (m).",
    )
