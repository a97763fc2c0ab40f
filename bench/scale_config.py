"""Settings of `tailor bench scale`: events/s of one consumer group with 1, 2, 3 ... workers, same run."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from bench.stream_config import LiveRigConfig

QUICK: dict[str, Any] = {"seconds": 8.0, "settle_s": 0.0, "workers": (1, 2)}


class ScaleBenchConfig(LiveRigConfig):
    """One measured point per worker count; every point gets fresh topics and a fresh group."""

    workers: tuple[int, ...] = Field(
        default=(1, 2, 3),
        description="Worker counts measured, in this order; must include 1, the baseline of the ratios.",
    )
    rounds: int = Field(
        default=1,
        ge=1,
        le=10,
        description="Times each worker count is measured; rounds alternate the order (1,2,3 then 3,2,1), so "
        "a load that drifts during the run (a shared machine) biases no count, and each count's eps is the "
        "median of its rounds.",
    )
    partitions: int = Field(
        default=12,
        gt=0,
        le=64,
        description="Partitions of each point's topics (at least the largest worker count, or some idle).",
    )
    seconds: float = Field(
        default=30.0, gt=0, le=3600, description="Saturated, measured phase of each point, seconds."
    )
    settle_s: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="Saturated load after the group is complete and before the measured phase (caches, "
        "allocator pools, the first batches after the last rebalance).",
    )
    backlog_events: int = Field(
        default=1500,
        gt=0,
        le=100_000,
        description="Most events produced but not yet through extraction while saturating (bounds memory).",
    )
    group_timeout_s: float = Field(
        default=90.0, gt=0, description="Longest wait for every worker of a point to hold partitions."
    )
    lag_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="The workers' lag-gauge period; the gauge's series say which partitions each one holds.",
    )

    @field_validator("workers")
    @classmethod
    def _baseline_included(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if 1 not in v or any(n < 1 for n in v) or len(set(v)) != len(v):
            raise ValueError("workers: distinct counts of at least 1, including 1 (the baseline)")
        return v

    @classmethod
    def make(cls, quick: bool = False, **values: Any) -> ScaleBenchConfig:
        """`--quick` defaults under explicit values (None: not given)."""
        return cls(**{**(QUICK if quick else {}), **{k: v for k, v in values.items() if v is not None}})
