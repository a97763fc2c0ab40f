"""Settings of one training run (DPO, GRPO or SFT): the TRL arguments file, LoRA shape, dtype, threads.

The TRL arguments themselves live in JSON files beside the code (`trainer/configs/dpo.json`,
`trainer/configs/grpo.json`, `trainer/configs/sft.json`) and are loaded into `DPOConfig` / `GRPOConfig` /
`SFTConfig`; `trl_overrides` changes single
fields (e.g. `max_steps` in tests) without another file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class LoraSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rank: int = Field(
        default=8, gt=0, le=16, description="LoRA rank r (at most 16: the vLLM server's max rank)."
    )
    alpha: int = Field(default=16, gt=0, description="LoRA alpha (scale = alpha / rank).")
    dropout: float = Field(default=0.0, ge=0, lt=1, description="LoRA dropout.")
    target_modules: tuple[str, ...] = Field(
        default=("q_proj", "k_proj", "v_proj", "o_proj"),
        min_length=1,
        description="Linear layers that get adapters (llama names; vLLM serves these).",
    )


class TrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    trl_file: Path | None = Field(
        default=None, description="JSON file of TRL arguments; None: trainer/configs/<method>.json."
    )
    trl_overrides: dict[str, Any] = Field(
        default_factory=dict, description="TRL arguments that replace the file's (e.g. max_steps)."
    )
    lora: LoraSettings = Field(default_factory=LoraSettings, description="Shape of the LoRA adapter.")
    full_finetune: bool = Field(
        default=False,
        description="Train every weight instead of a LoRA adapter (a `full` update; not hot-loadable "
        "into vLLM as an adapter).",
    )
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="Dtype the base weights are loaded in; auto: bfloat16 on CPUs with AVX512-BF16/AMX (2.5x faster "
        "than float32 there), float32 elsewhere (bf16 is emulated on AVX2: a DPO step took minutes).",
    )
    threads: int | None = Field(default=None, gt=0, description="torch threads (None: torch's default).")
    max_items: int = Field(
        default=2000,
        gt=0,
        description="Most pairs (DPO) or prompts (GRPO) used in one run; the rest are dropped.",
    )
    constrained_rollouts: bool = Field(
        default=True,
        description="GRPO samples under each window's constraint, as the workers do (trainer.constrained_rollout); "
        "off: TRL's free sampling, whose rewards from the base model are all equal, so no advantage is learnt.",
    )
    max_trl_file_bytes: int = Field(
        default=1 << 20, gt=0, description="Larger TRL argument files are refused."
    )

    def trl_path(self, method: str) -> Path:
        return self.trl_file if self.trl_file is not None else CONFIG_DIR / f"{method}.json"
