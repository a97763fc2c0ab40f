"""Settings of the built-in evaluators (stand-ins until the quality benchmark is plugged in)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EvaluateConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_new_tokens: int = Field(default=384, gt=0, le=8192, description="Completion tokens per benchmark prompt.")
    max_length: int = Field(default=2048, gt=8, description="Longest prompt + completion scored (tokens).")
    max_prompts: int = Field(default=32, gt=0, description="Most prompts or pairs one evaluation uses.")
    dtype: Literal["float32", "bfloat16"] = Field(
        default="bfloat16",
        description="Dtype the base weights are loaded in. The model cache holds bfloat16 weights, and bfloat16 "
        "compute ran 2.5x faster than float32 on this CPU (AVX512-BF16); use float32 on CPUs without it.",
    )
