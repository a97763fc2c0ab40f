"""Settings of the refinement benchmark run (`tailor bench quality`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from agents.synthesis.vllm_backend_config import VllmBackendConfig
from bench.scoring_config import ScoringConfig
from bench.sources import REPO


class QualityBenchConfig(BaseModel):
    model_dir: Path = Field(
        default=REPO / ".cache" / "models" / "SmolLM2-135M-Instruct",
        description="Base model folder (safetensors, see agents.model_cache) for hf and vllm.",
    )
    weights: Path | None = Field(
        default=None,
        description="A weights version: a LoRA adapter folder holding adapter_model.safetensors (hf and vllm).",
    )
    vllm_url: str | None = Field(
        default=None, description="A running vLLM server to use; None starts one on CPU from vllm_venv."
    )
    vllm_model: str = Field(default="SmolLM2-135M-Instruct", description="The served model name.")
    vllm_api_key: SecretStr | None = Field(
        default=None,
        description="Bearer token for a vllm_url server started with --api-key (requests and adapter loads).",
    )
    vllm_venv: Path = Field(default=REPO / ".venv-vllm", description="The separate vLLM environment.")
    vllm_start_timeout_s: float = Field(
        default=300.0, gt=0, description="How long a local vLLM server may take to start."
    )
    max_new_tokens: int = Field(
        default=768,
        gt=0,
        le=4096,
        description="Most completion tokens per case; each case asks for what its window schema needs, up to this.",
    )
    threads: int | None = Field(
        default=None, gt=0, description="torch threads of the hf backend (None: torch's choice)."
    )
    concurrency: int = Field(
        default=8, gt=0, description="Requests in flight to vLLM (the server batches them)."
    )
    request_timeout_s: float = Field(default=600.0, gt=0, description="Timeout of one vLLM request.")
    seed: int = Field(default=0, description="torch seed set before hf generation.")
    temperature: float = Field(
        default=0.0,
        ge=0,
        description="Sampling temperature of hf and vllm: 0 (greedy) for the benchmark; the learning bench samples "
        "candidate groups above 0, as the workers do.",
    )
    loop_retry_penalty: float = Field(
        default=VllmBackendConfig.model_fields["loop_retry_penalty"].default,
        ge=0,
        le=2,
        description="vllm: ask again with this frequency penalty for outputs cut at the token budget, as the "
        "workers do (VllmBackendConfig.loop_retry_penalty; 0: never).",
    )
    loop_retries: int = Field(
        default=VllmBackendConfig.model_fields["loop_retries"].default,
        ge=0,
        description="vllm: how many times cut outputs are asked for again (the penalty doubles each time).",
    )
    case_ids: list[str] | None = Field(default=None, description="Only these cases (None: the whole split).")
    limit: int | None = Field(default=None, gt=0, description="At most this many cases, in id order.")
    keep_outputs: int = Field(
        default=4000, ge=0, description="Characters of each raw output kept in per_case (0: none)."
    )
    scoring: ScoringConfig = Field(default_factory=ScoringConfig, description="Score weights and scales.")
