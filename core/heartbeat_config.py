"""Settings of the liveness heartbeat (`/healthz` beside `/metrics`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HeartbeatConfig(BaseModel):
    liveness_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the worker's event loop refreshes its heartbeat (seconds).",
    )
    liveness_stale_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description=(
            "GET /healthz answers 503 when the heartbeat is older than this (seconds): the event loop is stuck. "
            "Keep it well above liveness_interval_s and below the liveness probe's period x failureThreshold."
        ),
    )
