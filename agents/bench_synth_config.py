"""Settings of `tailor bench synth`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class BenchSynthConfig(BaseModel):
    jobs: int = Field(default=16, gt=0, description="Synthesis jobs (benchmark cases) run by each backend.")
    max_tokens: int = Field(default=192, gt=0, description="Completion tokens per example, both backends.")
    vllm_url: str | None = Field(default=None, description="A running server; unset: start the CPU one.")
    vllm_venv: Path = Field(default=Path(".venv-vllm"), description="The vLLM environment.")
    model_dir: Path = Field(default=Path(".cache/models/SmolLM2-135M-Instruct"), description="Model folder.")
    served_name: str = Field(default="smollm2", description="Served model name.")
    split: str = Field(default="heldout", description="Benchmark split the prompts come from.")
    cases_dir: Path | None = Field(default=None, description="Benchmark case set (default: the bundled one).")
