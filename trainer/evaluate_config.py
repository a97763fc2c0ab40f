"""Settings of the built-in evaluators (stand-ins until the quality benchmark is plugged in)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EvaluateConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_new_tokens: int = Field(
        default=384, gt=0, le=8192, description="Completion tokens per benchmark prompt."
    )
    max_length: int = Field(default=4096, gt=8, description="Longest prompt + completion scored (tokens).")
    max_prompts: int = Field(default=32, gt=0, description="Most prompts or pairs one evaluation uses.")
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="Dtype the base weights are loaded in; auto: bfloat16 on CPUs with AVX512-BF16/AMX (2.5x faster "
        "than float32 there), float32 elsewhere (bf16 is emulated on AVX2: a DPO step took minutes).",
    )
