"""Feedback intake: utilities, batch metrics attributed evenly, explicit preferences, and refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.records import Feedback
from trainer.feedback import FeedbackError, FeedbackLedger, feedback_from_bytes
from trainer.feedback_config import FeedbackConfig


def fb(feedback_id: str, kind: str, **fields: Any) -> Feedback:
    return Feedback(feedback_id=feedback_id, kind=kind, created_at=1.0, **fields)  # type: ignore[arg-type]


def raw(feedback_id: str, kind: str, **fields: Any) -> Feedback:
    """A record that skipped validation (as a buggy in-process producer could hand over)."""
    values: dict[str, Any] = {
        "feedback_id": feedback_id,
        "kind": kind,
        "example_ids": [],
        "utility": None,
        "metric": None,
        "value": None,
        "chosen_id": None,
        "rejected_id": None,
        "source": "user",
        "created_at": 1.0,
        "schema_version": 1,
    }
    values.update(fields)
    return Feedback.model_construct(**values)


def test_utilities_are_weighted_means_of_direct_and_batch_credits() -> None:
    ledger = FeedbackLedger(FeedbackConfig(batch_metric_weight=0.5))
    assert ledger.add(fb("f1", "example_utility", example_ids=["a"], utility=0.8))
    assert ledger.add(fb("f2", "batch_metric", example_ids=["a", "b", "c"], metric="accuracy", value=0.2))
    # a: (0.8·1 + 0.2·0.5) / 1.5; b and c: the batch value itself, not divided by the batch size
    assert ledger.utility("a") == pytest.approx((0.8 + 0.1) / 1.5)
    assert ledger.utility("b") == pytest.approx(0.2) and ledger.utility("c") == pytest.approx(0.2)
    assert ledger.utility("zzz") is None
    assert set(ledger.utilities()) == {"a", "b", "c"}


def test_lower_is_better_metrics_are_negated() -> None:
    ledger = FeedbackLedger()
    ledger.add(fb("f1", "batch_metric", example_ids=["a"], metric="eval_loss", value=1.5))
    ledger.add(fb("f2", "batch_metric", example_ids=["b"], metric="eval_loss", value=0.5))
    a, b = ledger.utility("a"), ledger.utility("b")
    assert a is not None and b is not None and b > a  # lower loss: more useful
    assert a == pytest.approx(-1.5)


def test_preferences_are_kept_in_order_and_redelivery_is_ignored() -> None:
    ledger = FeedbackLedger()
    first = fb("p1", "preference", chosen_id="x", rejected_id="y")
    assert ledger.add(first)
    assert ledger.add(fb("p2", "preference", chosen_id="x", rejected_id="z", example_ids=["x", "z"]))
    assert not ledger.add(first)  # at-least-once delivery: the same record again changes nothing
    assert ledger.pairs() == [("x", "y"), ("x", "z")]
    assert ledger.utilities() == {}


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (raw("n1", "example_utility", example_ids=["a"], utility=float("nan")), "non_finite"),
        (raw("n2", "batch_metric", example_ids=["a"], metric="acc", value=float("inf")), "non_finite"),
        (fb("n3", "example_utility", example_ids=["a"], utility=1e12), "absurd_value"),
        (fb("e1", "example_utility", utility=0.5), "empty_ids"),
        (fb("e2", "batch_metric", metric="acc", value=0.5), "empty_ids"),
        (fb("m1", "example_utility", example_ids=["a"]), "missing_utility"),
        (fb("m2", "batch_metric", example_ids=["a"], value=0.5), "missing_metric"),
        (fb("m3", "batch_metric", example_ids=["a"], metric="acc"), "missing_value"),
        (fb("m4", "preference", chosen_id="a"), "missing_pair"),
        (fb("s1", "preference", chosen_id="a", rejected_id="a"), "self_preference"),
        (fb("d1", "example_utility", example_ids=["a", "a"], utility=0.1), "duplicate_ids"),
        (fb("b1", "example_utility", example_ids=["  "], utility=0.1), "bad_id"),
        (fb("x1", "example_utility", example_ids=["a"], utility=0.1, value=3.0), "foreign_fields"),
        (fb("x2", "preference", chosen_id="a", rejected_id="b", utility=0.3), "foreign_fields"),
        (fb("x3", "preference", chosen_id="a", rejected_id="b", example_ids=["a", "c"]), "foreign_fields"),
        (raw("k1", "thumbs_up", example_ids=["a"]), "unknown_kind"),
    ],
)
def test_malformed_feedback_is_refused_with_a_reason(record: Feedback, reason: str) -> None:
    ledger = FeedbackLedger()
    with pytest.raises(FeedbackError) as err:
        ledger.add(record)
    assert err.value.reason == reason
    assert ledger.utilities() == {} and ledger.pairs() == [] and ledger.seen == {}


def test_inconsistent_feedback_is_refused() -> None:
    ledger = FeedbackLedger()
    ledger.add(fb("p1", "preference", chosen_id="a", rejected_id="b"))
    with pytest.raises(FeedbackError) as err:
        ledger.add(fb("p2", "preference", chosen_id="b", rejected_id="a"))
    assert err.value.reason == "contradictory_preference"
    ledger.add(fb("u1", "example_utility", example_ids=["a"], utility=0.5))
    with pytest.raises(FeedbackError) as err:
        ledger.add(fb("u1", "example_utility", example_ids=["a"], utility=0.9))
    assert err.value.reason == "feedback_id_reused"
    assert ledger.utility("a") == pytest.approx(0.5)


def test_add_all_keeps_the_good_and_reports_the_bad() -> None:
    ledger = FeedbackLedger()
    errors = ledger.add_all(
        [
            fb("a", "example_utility", example_ids=["a"], utility=1.0),
            fb("b", "example_utility", utility=1.0),
            fb("c", "example_utility", example_ids=["c"], utility=-1.0),
        ]
    )
    assert [e.reason for e in errors] == ["empty_ids"]
    assert ledger.utilities() == {"a": 1.0, "c": -1.0}


def test_wire_bytes_with_nan_or_garbage_are_feedback_errors() -> None:
    good = fb("w1", "example_utility", example_ids=["a"], utility=0.25)
    assert feedback_from_bytes(good.to_bytes()) == good
    body = json.loads(good.to_bytes())
    body["utility"] = "NaN"
    for data in (b"", b"{not json", json.dumps(body).encode(), json.dumps(dict(body, kind="vote")).encode()):
        with pytest.raises(FeedbackError):
            feedback_from_bytes(data)
