"""Settings of the trainer service (`tailor trainer`) and `tailor train --once`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TrainerConfig(BaseModel):
    train_method: Literal["dpo", "grpo"] = Field(default="dpo", description="Preference RL method of a round.")
    train_every_pairs: int = Field(default=32, gt=0, description="The service runs a round once this many new pairs exist.")
    train_every_s: float = Field(default=1800.0, gt=0, description="...or at least this often when any pair exists.")
    train_poll_s: float = Field(default=30.0, gt=0, description="How often the service looks for new candidates.")
    train_max_steps: int = Field(default=8, gt=0, description="Optimizer steps per round.")
    gate_margin: float = Field(default=0.0, ge=0, description="Publish when candidate >= current - margin.")
    gate_cases: int = Field(default=8, gt=0, description="Held-out benchmark cases the gate evaluates.")
    gate_backend: Literal["auto", "hf", "vllm"] = Field(
        default="auto",
        description="Where the gate runs the held-out benchmark: `vllm` loads the candidate adapter into the "
        "running server (TAILOR_VLLM_URL; JSON-schema structured output, as the workers generate), `hf` runs it "
        "in process without constrained decoding; `auto` = vllm when a server URL is set, else hf.",
    )
    gate_max_new_tokens: int = Field(default=192, gt=0, description="Completion tokens per gate case.")
    probe_enabled: bool = Field(default=True, description="Run the downstream probe and publish its feedback.")
    probe_examples: int = Field(default=16, gt=0, description="Accepted examples the probe scores per round.")
