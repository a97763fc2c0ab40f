"""Settings of the intent parser."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IntentsConfig(BaseModel):
    intent_model_enabled: bool = Field(
        default=True,
        description="Ask the served model which task families an intent wants (rules always apply).",
    )
    intent_model_timeout_s: float = Field(
        default=30.0, gt=0, description="Time allowed for the model's answer."
    )
    default_budget: int | None = Field(default=None, gt=0, description="Budget of intents that state none.")
