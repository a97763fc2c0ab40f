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
    intents_max_active: int = Field(
        default=256,
        gt=0,
        description="Most active intents a worker holds; a new intent beyond them is dead-lettered "
        "(`too_many_intents`) before it is parsed, so an intent flood cannot multiply parsing or synthesis. "
        "Retiring an intent (active=false or a tombstone) frees its place.",
    )
    intents_max_jobs_per_window: int = Field(
        default=32,
        gt=0,
        description="Most synthesis jobs (intent x task family) one window gets; the jobs of the oldest "
        "intents go first, the rest are dropped and counted "
        '(`tailor_stage_dropped_total{stage="synthesis", reason="intent_jobs_cap"}`).',
    )
