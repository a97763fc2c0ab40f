"""Settings of one learning round (feedback → pairs/prompts → training → gate → publish)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.model_cache_config import DEFAULT_MODEL_NAME
from trainer.feedback_config import FeedbackConfig
from trainer.preferences_config import PreferencesConfig
from trainer.train_config import TrainConfig


class RoundConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["dpo", "grpo", "sft"] = Field(
        default="dpo",
        description="Training method of the round (sft: the supervised warm start, trainer.sft).",
    )
    min_pairs: int = Field(
        default=1, gt=0, description="DPO rounds with fewer pairs are skipped (too_few_pairs)."
    )
    min_prompts: int = Field(default=1, gt=0, description="GRPO rounds with fewer prompts are skipped.")
    min_sft_rows: int = Field(
        default=8, gt=0, description="SFT rounds with fewer validated rows are skipped."
    )
    gate_margin: float = Field(
        default=0.0,
        description="Publish when the mean paired gain is > 0 and its bootstrap interval's lower bound is >= "
        "-margin (0: no regression inside the interval; negative: demand an improvement of |margin|). "
        "See trainer.gate.",
    )
    gate_confidence: float = Field(
        default=0.95, gt=0, lt=1, description="Confidence of the gate's bootstrap interval."
    )
    gate_resamples: int = Field(
        default=2000, gt=0, description="Bootstrap resamples of the gate (fixed seed)."
    )
    exclude_heldout: bool = Field(
        default=True,
        description="Drop candidate groups whose window comes from a benchmark heldout recording (trainer.heldout).",
    )
    heldout_file: Path | None = Field(
        default=None, description="The heldout recordings list (None: trainer/heldout_recordings.json)."
    )
    continue_from_current: bool = Field(
        default=True, description="Train the current LoRA further (True) or a fresh LoRA on the base model."
    )
    base_model_name: str = Field(
        default=DEFAULT_MODEL_NAME,
        min_length=1,
        description="Base model name recorded in ModelUpdate.base_model.",
    )
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig, description="Feedback intake.")
    preferences: PreferencesConfig = Field(
        default_factory=PreferencesConfig, description="Preference building."
    )
    train: TrainConfig = Field(default_factory=TrainConfig, description="The training run.")
