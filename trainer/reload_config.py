"""Settings of hot reloading published weights into a running synthesis backend."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReloadConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    request_timeout_s: float = Field(
        default=120.0, gt=0, description="Timeout of one request to the vLLM server (loading an adapter)."
    )
    max_lora_rank: int = Field(
        default=16, gt=0, description="Refuse adapters of a larger rank than the server was started with."
    )
    allowed_target_modules: tuple[str, ...] = Field(
        default=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        min_length=1,
        description="Modules an adapter may target (the linear layers the backends serve LoRA on); an adapter "
        "with a tensor of any other module is refused (`unsupported_adapter`).",
    )
