"""Settings of one learning round (feedback → pairs/prompts → training → gate → publish)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.model_cache_config import DEFAULT_MODEL_NAME
from trainer.feedback_config import FeedbackConfig
from trainer.preferences_config import PreferencesConfig
from trainer.train_config import TrainConfig


class RoundConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["dpo", "grpo"] = Field(default="dpo", description="Training method of the round.")
    min_pairs: int = Field(default=1, gt=0, description="DPO rounds with fewer pairs are skipped (too_few_pairs).")
    min_prompts: int = Field(default=1, gt=0, description="GRPO rounds with fewer prompts are skipped.")
    gate_margin: float = Field(
        default=0.0,
        description="Publish when candidate >= current - margin (negative: require an improvement of |margin|).",
    )
    continue_from_current: bool = Field(
        default=True, description="Train the current LoRA further (True) or a fresh LoRA on the base model."
    )
    base_model_name: str = Field(
        default=DEFAULT_MODEL_NAME, min_length=1, description="Base model name recorded in ModelUpdate.base_model."
    )
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig, description="Feedback intake.")
    preferences: PreferencesConfig = Field(default_factory=PreferencesConfig, description="Preference building.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="The training run.")
