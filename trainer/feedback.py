"""Feedback intake: `Feedback` records → per-example utilities and explicit preference pairs.

One reader per kind (one job each); the `FeedbackLedger` owns the plumbing (id de-duplication, the
weighted mean, contradiction checks).

- example_utility: `utility` is credited to every id in `example_ids` (normally one) with weight 1.
- batch_metric: the batch's `value` is credited to **each** of its example ids, in full, with weight
  `batch_metric_weight`: the batch is the evidence, and every member is equally responsible for it (an even
  attribution). The value is not divided by the batch size, so a utility never depends on how large the
  batch was. Metrics named in `lower_is_better` (loss, ...) are negated first: higher utility = better.
- preference: an explicit (chosen_id, rejected_id) pair; `example_ids` may be empty or list exactly those two.

An example's utility is the weighted mean of all its credits. Utilities from different metrics share one
scale only as far as the caller's metrics do; pairs are only ever formed inside one candidate group.

Malformed or inconsistent feedback raises `FeedbackError(reason, detail)` (the caller dead-letters it):
missing_utility, missing_metric, missing_value, missing_pair, self_preference, non_finite, absurd_value,
empty_ids, bad_id, duplicate_ids, foreign_fields (a field of another kind is set), unknown_kind,
contradictory_preference (B > A after A > B), feedback_id_reused (same id, different content). A
re-delivered identical record is ignored (at-least-once delivery).
"""

from __future__ import annotations

import hashlib
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from core.errors import TailorError
from core.records import Feedback, RecordError
from trainer.feedback_config import FeedbackConfig

log = logging.getLogger(__name__)

_KIND_FIELDS = {"utility", "metric", "value", "chosen_id", "rejected_id"}


class FeedbackError(TailorError, ValueError):
    """Feedback that cannot be used; `reason` is a short label (the dead-letter reason)."""


@dataclass(frozen=True)
class Credit:
    example_id: str
    value: float
    weight: float


@dataclass(frozen=True)
class Reading:
    """What one record says: utility credits and/or a preference pair."""

    credits: tuple[Credit, ...] = ()
    pair: tuple[str, str] | None = None


class KindReader(ABC):
    """Reads one kind of feedback; the base checks the fields every kind shares."""

    kind: ClassVar[str]
    own_fields: ClassVar[frozenset[str]]

    def read(self, fb: Feedback, cfg: FeedbackConfig) -> Reading:
        foreign = sorted(f for f in _KIND_FIELDS - self.own_fields if getattr(fb, f) is not None)
        if foreign:
            raise FeedbackError("foreign_fields", f"{fb.feedback_id}: {self.kind} sets {', '.join(foreign)}")
        seen: set[str] = set()
        for ex_id in fb.example_ids:
            if not isinstance(ex_id, str) or not ex_id.strip() or len(ex_id) > 200:
                raise FeedbackError("bad_id", f"{fb.feedback_id}: example id {str(ex_id)[:60]!r}")
            if ex_id in seen:
                raise FeedbackError("duplicate_ids", f"{fb.feedback_id}: {ex_id} listed twice")
            seen.add(ex_id)
        return self.reading(fb, cfg)

    @abstractmethod
    def reading(self, fb: Feedback, cfg: FeedbackConfig) -> Reading:
        """The credits or pair of one checked record of this kind."""


def finite(fb: Feedback, name: str, value: float | None, cfg: FeedbackConfig) -> float:
    if value is None:
        raise FeedbackError(f"missing_{name}", f"{fb.feedback_id}: {fb.kind} without {name}")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FeedbackError("non_finite", f"{fb.feedback_id}: {name} is {value!r}")
    if abs(value) > cfg.max_abs_value:
        raise FeedbackError(
            "absurd_value", f"{fb.feedback_id}: |{name}| = {abs(value):g} > {cfg.max_abs_value:g}"
        )
    return float(value)


def need_ids(fb: Feedback) -> list[str]:
    if not fb.example_ids:
        raise FeedbackError("empty_ids", f"{fb.feedback_id}: {fb.kind} names no example")
    return list(fb.example_ids)


class UtilityReader(KindReader):
    kind = "example_utility"
    own_fields = frozenset({"utility"})

    def reading(self, fb: Feedback, cfg: FeedbackConfig) -> Reading:
        value = finite(fb, "utility", fb.utility, cfg)
        return Reading(credits=tuple(Credit(i, value, 1.0) for i in need_ids(fb)))


class BatchMetricReader(KindReader):
    kind = "batch_metric"
    own_fields = frozenset({"metric", "value"})

    def reading(self, fb: Feedback, cfg: FeedbackConfig) -> Reading:
        if not fb.metric or not fb.metric.strip():
            raise FeedbackError("missing_metric", f"{fb.feedback_id}: batch_metric without a metric name")
        value = finite(fb, "value", fb.value, cfg)
        if fb.metric.strip().lower() in cfg.lower_is_better:
            value = -value
        ids = need_ids(fb)
        return Reading(credits=tuple(Credit(i, value, cfg.batch_metric_weight) for i in ids))


class PreferenceReader(KindReader):
    kind = "preference"
    own_fields = frozenset({"chosen_id", "rejected_id"})

    def reading(self, fb: Feedback, cfg: FeedbackConfig) -> Reading:
        chosen, rejected = fb.chosen_id, fb.rejected_id
        if not chosen or not rejected or not chosen.strip() or not rejected.strip():
            raise FeedbackError(
                "missing_pair", f"{fb.feedback_id}: preference needs chosen_id and rejected_id"
            )
        if chosen == rejected:
            raise FeedbackError("self_preference", f"{fb.feedback_id}: {chosen} preferred to itself")
        if fb.example_ids and set(fb.example_ids) != {chosen, rejected}:
            raise FeedbackError("foreign_fields", f"{fb.feedback_id}: example_ids differ from the pair")
        return Reading(pair=(chosen, rejected))


READERS: dict[str, KindReader] = {
    r.kind: r for r in (UtilityReader(), BatchMetricReader(), PreferenceReader())
}


def digest(fb: Feedback) -> str:
    return hashlib.sha256(fb.model_dump_json(exclude={"created_at"}).encode()).hexdigest()


@dataclass
class FeedbackLedger:
    """Accumulated feedback: weighted utility sums per example, preference pairs, ids seen."""

    config: FeedbackConfig = field(default_factory=FeedbackConfig)
    sums: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    preferences: dict[tuple[str, str], str] = field(default_factory=dict)  # pair -> feedback id
    seen: dict[str, str] = field(default_factory=dict)  # feedback id -> content digest

    def add(self, fb: Feedback) -> bool:
        """Take in one record (False: an identical re-delivery, ignored); FeedbackError when unusable."""
        reader = READERS.get(str(fb.kind))
        if reader is None:
            raise FeedbackError("unknown_kind", f"{fb.feedback_id}: kind {fb.kind!r}")
        content = digest(fb)
        previous = self.seen.get(fb.feedback_id)
        if previous is not None:
            if previous != content:
                raise FeedbackError(
                    "feedback_id_reused", f"{fb.feedback_id} arrived twice with different content"
                )
            return False
        reading = reader.read(fb, self.config)
        if reading.pair is not None:
            chosen, rejected = reading.pair
            other = self.preferences.get((rejected, chosen))
            if other is not None:
                raise FeedbackError(
                    "contradictory_preference",
                    f"{fb.feedback_id}: {chosen} > {rejected}, but {other} said the opposite",
                )
            self.preferences.setdefault(reading.pair, fb.feedback_id)
        for credit in reading.credits:
            self.sums[credit.example_id] = (
                self.sums.get(credit.example_id, 0.0) + credit.value * credit.weight
            )
            self.weights[credit.example_id] = self.weights.get(credit.example_id, 0.0) + credit.weight
        self.seen[fb.feedback_id] = content
        return True

    def add_all(self, records: Iterable[Feedback]) -> list[FeedbackError]:
        """Take in many; the errors of the unusable ones are returned (in order), the rest are kept."""
        errors: list[FeedbackError] = []
        for fb in records:
            try:
                self.add(fb)
            except FeedbackError as exc:
                log.warning("feedback %s refused: %s", fb.feedback_id, exc)
                errors.append(exc)
        return errors

    def utility(self, example_id: str) -> float | None:
        weight = self.weights.get(example_id)
        return None if not weight else self.sums[example_id] / weight

    def utilities(self) -> dict[str, float]:
        return {ex_id: self.sums[ex_id] / w for ex_id, w in self.weights.items() if w}

    def pairs(self) -> list[tuple[str, str]]:
        """Explicit (chosen_id, rejected_id) pairs, in arrival order."""
        return list(self.preferences)


def feedback_from_bytes(data: bytes | None) -> Feedback:
    """Parse one message of the feedback topic; a record error becomes FeedbackError with the same reason."""
    try:
        return Feedback.from_bytes(data)
    except RecordError as exc:
        raise FeedbackError(exc.reason, exc.detail) from None
