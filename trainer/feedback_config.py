"""Settings of the feedback intake: how downstream results turn into per-example utilities."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FeedbackConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_metric_weight: float = Field(
        default=1.0,
        gt=0,
        description="Weight of one batch_metric credit beside one example_utility measurement (weight 1) in an "
        "example's weighted mean utility.",
    )
    lower_is_better: tuple[str, ...] = Field(
        default=("loss", "eval_loss", "perplexity", "error_rate", "wer", "cer"),
        description="batch_metric names where smaller values are better; their values are negated so that a "
        "higher utility always means a more useful example.",
    )
    max_abs_value: float = Field(
        default=1e9,
        gt=0,
        description="Utilities or metric values beyond this magnitude are rejected as absurd.",
    )
