"""Settings of the in-process transformers synthesis backend."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class HfBackendConfig(BaseModel):
    model_dir: Path = Field(description="Local safetensors model folder (see agents.model_cache).")
    max_new_tokens: int = Field(default=384, gt=0, description="Completion tokens per candidate.")
    temperature: float = Field(default=0.8, ge=0, description="Sampling temperature; 0 = greedy.")
    top_p: float = Field(default=0.95, gt=0, le=1, description="Nucleus sampling.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto",
        description="Compute dtype; float32 on CPUs without native bf16 (bf16 is emulated there, ~1.9x slower).",
    )
    threads: int | None = Field(default=None, gt=0, description="torch threads (None: torch's default).")
    adapter_dir: Path | None = Field(default=None, description="A LoRA adapter (safetensors) applied on top.")
