"""Weights and scales of the benchmark score (DataClaw0-val style):

S_total = G_json · (w_field·S_field + w_semantic·S_semantic + w_traj·S_traj)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from bench.sources import REPO


class ScoringConfig(BaseModel):
    w_field: float = Field(default=0.20, ge=0, description="Weight of S_field in S_total.")
    w_semantic: float = Field(default=0.35, ge=0, description="Weight of S_semantic in S_total.")
    w_traj: float = Field(default=0.45, ge=0, description="Weight of S_traj in S_total.")
    coverage_weight: float = Field(
        default=0.7, ge=0, le=1, description="S_field = c·coverage + (1 − c)·(1 − extraneous ratio)."
    )
    w_question: float = Field(default=0.4, ge=0, description="S_semantic weight of the question text.")
    w_answer: float = Field(default=0.4, ge=0, description="S_semantic weight of the answer text.")
    w_cot: float = Field(default=0.2, ge=0, description="S_semantic weight of the reasoning text.")
    traj_scale: float = Field(default=0.10, gt=0, description="S_traj = exp(−d / traj_scale).")
    traj_points: int = Field(
        default=50, ge=2, description="Both trajectories are resampled to this many points."
    )
    density_tokens: Literal["smollm2", "whitespace"] = Field(
        default="smollm2",
        description="Token count of the density figure: SmolLM2's tokenizer (falls back to whitespace words, "
        "reported, when the model cache has no tokenizer.json) or whitespace words.",
    )
    tokenizer_file: Path = Field(
        default=REPO / ".cache" / "models" / "SmolLM2-135M-Instruct" / "tokenizer.json",
        description="SmolLM2's tokenizer.json (from agents.model_cache).",
    )
