"""Settings of the downstream probe (gradient alignment of examples with a held-out set)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ProbeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    last_layers: int = Field(
        default=1,
        gt=0,
        le=64,
        description="Gradients are taken over the last N decoder layers and the final norm only (cheap; the "
        "rest of the student is frozen).",
    )
    checkpoints: int = Field(
        default=2,
        gt=0,
        le=16,
        description="Student states the alignment is measured at and averaged over (TracIn-style): the base, "
        "then after each `steps_between` training steps on the examples.",
    )
    steps_between: int = Field(
        default=1, ge=0, le=100, description="SGD steps on the examples between checkpoints."
    )
    learning_rate: float = Field(default=1e-3, gt=0, le=1, description="Learning rate of those SGD steps.")
    max_length: int = Field(default=1024, gt=8, description="Longest prompt + output scored (tokens).")
    max_items: int = Field(
        default=256, gt=0, description="Most examples (and held-out items) per measurement."
    )
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="Dtype the base weights are loaded in; auto: bfloat16 on CPUs with AVX512-BF16/AMX (2.5x faster "
        "than float32 there), float32 elsewhere (bf16 is emulated on AVX2: a DPO step took minutes).",
    )
    source: str = Field(
        default="probe", min_length=1, description="`source` of the Feedback records produced."
    )
