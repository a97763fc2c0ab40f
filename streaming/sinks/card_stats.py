"""What a dataset card says about a dataset, counted from its Parquet rows alone: examples by family and
domain, intents, models and weights versions, reward terms, validation, source recordings and licences."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from streaming.sinks.reader import iter_stored
from streaming.sinks.upgrade import old_parts

UNKNOWN_LICENCE = "unknown"


@dataclass(frozen=True)
class RewardStats:
    count: int
    mean: float
    minimum: float
    maximum: float


@dataclass
class CardStats:
    examples: int = 0
    by_family: Counter[str] = field(default_factory=Counter)
    by_domain: Counter[str] = field(default_factory=Counter)
    by_family_domain: Counter[tuple[str, str]] = field(default_factory=Counter)
    intents: Counter[tuple[str, str]] = field(default_factory=Counter)  # (intent id, text)
    models: Counter[tuple[str, str]] = field(default_factory=Counter)  # (model, weights version)
    rewards: dict[str, RewardStats] = field(default_factory=dict)
    validators: Counter[str] = field(default_factory=Counter)
    reward_floors: Counter[float] = field(default_factory=Counter)
    recordings: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (domain, recording, licence)
    frames: int = 0
    frame_errors: Counter[str] = field(default_factory=Counter)
    first_created: float | None = None
    last_created: float | None = None
    old_parts: int = 0  # part files of an older sink schema (datasets cannot mix them with newer ones)

    @property
    def licences(self) -> list[str]:
        return sorted({lic for _, _, lic in self.recordings})


def domain_of(window_id: str) -> str:
    """Window ids are `<domain>:<key>:<seq>` (core.window.ClosedWindow.window_id)."""
    return window_id.split(":", 1)[0] if ":" in window_id else "unknown"


def collect(root: Path) -> CardStats:
    stats = CardStats()
    terms: dict[str, list[float]] = {}
    for stored in iter_stored(root):
        ex = stored.example
        domain = domain_of(ex.window_id)
        stats.examples += 1
        stats.by_family[ex.task_family] += 1
        stats.by_domain[domain] += 1
        stats.by_family_domain[ex.task_family, domain] += 1
        stats.intents[ex.intent_id or "-", ex.intent_text or ""] += 1
        stats.models[ex.model, ex.weights_version or "base"] += 1
        for name, value in ex.rewards.items():
            terms.setdefault(name, []).append(value)
        stats.validators.update(ex.validators)
        if ex.min_reward is not None:
            stats.reward_floors[ex.min_reward] += 1
        stats.recordings[domain, ex.recording or "unknown", ex.licence or UNKNOWN_LICENCE] += 1
        stats.frames += len(ex.frames)
        stats.frame_errors.update(stored.frame_errors)
        first, last = stats.first_created, stats.last_created
        stats.first_created = ex.created_at if first is None else min(first, ex.created_at)
        stats.last_created = ex.created_at if last is None else max(last, ex.created_at)
    stats.old_parts = len(old_parts(root))
    stats.rewards = {
        name: RewardStats(len(v), statistics.fmean(v), min(v), max(v)) for name, v in sorted(terms.items())
    }
    return stats
