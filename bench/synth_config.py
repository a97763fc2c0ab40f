"""Settings of `tailor bench synth`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator


class BenchSynthConfig(BaseModel):
    jobs: int = Field(default=8, gt=0, description="Synthesis jobs (benchmark cases) run by each backend.")
    candidates: int = Field(
        default=4,
        gt=0,
        le=16,
        description="Candidates per job (n), as the worker asks for (TAILOR_SYNTH_CANDIDATES, default 4): vLLM "
        "samples them in one request sharing the prompt; transformers generates them one after another.",
    )
    temperature: float = Field(
        default=0.8,
        ge=0,
        description="Sampling temperature of both backends (the worker's default, 0.8); 0 = greedy, which vLLM "
        "allows only with candidates=1.",
    )
    max_tokens: int = Field(default=192, gt=0, description="Completion tokens per example, both backends.")
    vllm_url: str | None = Field(default=None, description="A running server; unset: start the CPU one.")
    vllm_venv: Path = Field(default=Path(".venv-vllm"), description="The vLLM environment.")
    model_dir: Path = Field(default=Path(".cache/models/SmolLM2-135M-Instruct"), description="Model folder.")
    served_name: str = Field(default="smollm2", description="Served model name.")
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto", description="Compute dtype of both backends (the same for a fair ratio)."
    )
    skip_hf: bool = Field(
        default=False,
        description="Run only the vLLM side (e.g. a GPU server: the main environment's torch is a CPU build, so "
        "an in-process transformers figure there would not be a like-for-like baseline); hf figures are null.",
    )
    request_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="Timeout of one vLLM request; long, so that on a loaded CPU a slow request is waited for "
        "rather than retried (a retry repeats the work and distorts the timing).",
    )
    images: int = Field(
        default=0,
        ge=0,
        le=16,
        description="Key frames per prompt sent to the vLLM server as images (a vision model; 0: text only): each "
        "case's window is re-anchored from its recording and the worker's choice of frames is sent. The "
        "transformers side stays text-only.",
    )
    image_max_side: int = Field(
        default=448, ge=16, description="Longest side of a sent key frame, in pixels."
    )
    split: str = Field(default="heldout", description="Benchmark split the prompts come from.")
    cases_dir: Path | None = Field(default=None, description="Benchmark case set (default: the bundled one).")

    @model_validator(mode="after")
    def _greedy_single(self) -> BenchSynthConfig:
        if self.temperature == 0 and self.candidates > 1:
            raise ValueError("greedy decoding (temperature 0) needs candidates=1")
        return self
