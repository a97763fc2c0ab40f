"""Settings of `tailor bench learn`: the learning curve from the base model through the warm start and rounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.synthesis.vllm_backend_config import VllmBackendConfig
from bench.sources import REPO

QUICK: dict[str, Any] = {
    "backend": "hf",
    "rounds": 1,
    "sft_steps": 1,
    "round_steps": 1,
    "num_generations": 2,
    "max_completion_length": 16,
    "eval_limit": 2,
    "dev_limit": 2,
    "max_new_tokens": 24,
    "probe_heldout": 2,
    "ablation_candidates": 2,
    "ablation_probe_batch": 1,
    "ablation_probe_batches": 2,
    "ablation_steps": 1,
}
"""What `--quick` changes: every step of the curve runs once, at toy sizes (mechanics, not quality)."""


class LearnBenchConfig(BaseModel):
    """Defaults: the real curve (about 70 minutes on 2 cores with vLLM on CPU: SFT and each GRPO round take
    about 14 minutes, each point's two benchmark runs and the probe about 6)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    out: Path = Field(description="Folder for learn.json, learn.png and the adapters (created).")
    backend: Literal["hf", "vllm"] = Field(
        default="vllm",
        description="How each point is scored: vllm (constrained decoding, as the workers generate; a CPU server "
        "is started unless vllm_url is set) or hf (in process, unconstrained).",
    )
    model_dir: Path = Field(
        default=REPO / ".cache" / "models" / "SmolLM2-135M-Instruct",
        description="The base model (verified safetensors cache).",
    )
    vllm_url: str | None = Field(default=None, description="A running vLLM server (None: start one on CPU).")
    vllm_venv: Path = Field(default=REPO / ".venv-vllm", description="The separate vLLM environment.")
    served_name: str = Field(
        default="smollm2",
        min_length=1,
        description="The model name the vLLM server answers to (the started one, or vllm_url's).",
    )
    rounds: int = Field(default=2, ge=0, le=50, description="GRPO rounds after the warm start.")
    sft_steps: int = Field(
        default=16,
        gt=0,
        description="Optimizer steps of the warm start (configs/sft.json: 4 rows a step). 16 scored best on heldout "
        "(docs/learning.md: 26 steps on 100 rows taught robot temporal_qa a copied answer).",
    )
    sft_rules: bool = Field(
        default=True,
        description="Teach the warm start the rules backend's outputs of the dev windows too (the "
        "references alone: 23 rows pass the validators).",
    )
    sft_all_families: bool = Field(
        default=False,
        description="The rules teacher answers every family that applies to a dev window (100 rows, "
        "gui_task_reconstruction included), not only each case's family (75 rows); measured worse on heldout, "
        "see docs/learning.md.",
    )
    round_steps: int = Field(default=16, gt=0, description="Optimizer steps of each GRPO round.")
    round_learning_rate: float = Field(default=2e-4, gt=0, description="Learning rate of the GRPO rounds.")
    num_generations: int = Field(default=4, ge=2, description="Rollouts per prompt in a GRPO step.")
    max_completion_length: int = Field(default=256, gt=0, description="Tokens of a GRPO rollout.")
    eval_limit: int | None = Field(
        default=None, gt=0, description="At most this many heldout cases per point."
    )
    dev_limit: int | None = Field(
        default=None,
        gt=0,
        description="At most this many dev cases: the prompts trained on, and the point's own data (the "
        "acceptance rate, mean reward and probe are measured on the model's outputs for them).",
    )
    max_new_tokens: int = Field(default=768, gt=0, le=4096, description="Completion tokens per scored case.")
    probe: bool = Field(
        default=True, description="Measure each point's data with the downstream student probe."
    )
    probe_heldout: int = Field(
        default=8, gt=0, description="Heldout references the probe's student is scored on."
    )
    probe_batch: int = Field(
        default=16,
        gt=0,
        le=64,
        description="Accepted dev outputs the probe's student trains on (the first by case id): the same size at "
        "every point that has as many, so a point is not favoured for having more data.",
    )
    ablation: bool = Field(
        default=True,
        description="After the warm start, run the ablation (`bench.learn_ablation`): one DPO round with the "
        "downstream probe's feedback and one with rule rewards only, same candidate groups, seed and steps.",
    )
    ablation_candidates: int = Field(default=4, ge=2, le=16, description="Candidates sampled per dev window.")
    ablation_temperature: float = Field(
        default=VllmBackendConfig.model_fields["temperature"].default,
        gt=0,
        description="Sampling temperature of the candidates (the workers' default).",
    )
    ablation_probe_batch: int = Field(
        default=4,
        gt=0,
        le=64,
        description="Accepted candidates per probed batch (the metric is credited per batch).",
    )
    ablation_probe_batches: int = Field(
        default=8,
        gt=0,
        le=256,
        description="Batches the probe measures (about 45 s each on 2 cores): half hold the first, half the second "
        "accepted candidate of up to batch x batches / 2 groups.",
    )
    ablation_steps: int = Field(
        default=8,
        gt=0,
        description="Optimizer steps of each arm's DPO round (configs/dpo.json: 4 pairs a step, about 47 s a step on 2 "
        "cores).",
    )
    seed: int = Field(default=0, description="Seed of training, sampling and probing.")

    @classmethod
    def make(cls, quick: bool = False, **values: Any) -> LearnBenchConfig:
        return cls(**{**(QUICK if quick else {}), **{k: v for k, v in values.items() if v is not None}})
