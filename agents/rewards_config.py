"""Weights and scales of the synthesis rewards (R = w_format·R_format + w_anchor·R_anchor + w_eff·R_eff)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RewardsConfig(BaseModel):
    w_format: float = Field(
        default=0.7, ge=0, description="Weight of R_format (the output parses into its schema)."
    )
    w_anchor: float = Field(
        default=1.0, ge=0, description="Weight of R_anchor (cited frames follow the anchors)."
    )
    w_eff: float = Field(
        default=0.3, ge=0, description="Weight of R_eff (reasoning no longer than the group's best)."
    )
    anchor_scale: float = Field(
        default=0.10,
        gt=0,
        description="R_anchor = exp(-d / anchor_scale), d the mean absolute trajectory gap.",
    )
    resample_points: int = Field(
        default=50, ge=2, description="Both trajectories are resampled to this many points before comparing."
    )
    schema_error_credit: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="R_format for valid JSON that fails the schema (0 keeps R_format binary; 0.5 gives partial credit).",
    )
