"""Settings of the consumer-lag gauge (`tailor_consumer_lag_messages`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LagMonitorConfig(BaseModel):
    lag_interval_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How often a worker sets tailor_consumer_lag_messages (seconds).",
    )
    lag_position_timeout_s: float = Field(
        default=2.0, gt=0, le=60, description="Longest wait for the consumer's positions in one lag update."
    )
