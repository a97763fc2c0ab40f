"""Settings of preference building: margins, pairing policy, limits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PreferencesConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reward_margin: float = Field(
        default=0.05,
        ge=0,
        description="A candidate beats another on the rule reward only when its r_total is higher by at least "
        "this much (and strictly higher).",
    )
    utility_margin: float = Field(
        default=0.0,
        ge=0,
        description="A candidate beats another on feedback utility only when its utility is higher by at least "
        "this much (and strictly higher).",
    )
    policy: Literal["best_vs_rest", "all"] = Field(
        default="best_vs_rest",
        description="best_vs_rest: each beaten candidate is paired with the best-ranked candidate that beats it; "
        "all: every (winner, loser) pair.",
    )
    max_pairs_per_group: int = Field(default=4, gt=0, description="Most pairs taken from one group.")
    use_explicit: bool = Field(
        default=True, description="Add the explicit preference feedback whose two ids sit in one group."
    )
