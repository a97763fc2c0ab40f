"""The demo's before/after acceptance: which candidates count (no broker; the demo's run is test_demo_e2e)."""

from __future__ import annotations

from app.demo_learning import acceptance, window_recording
from core.records import Example, RejectedExample, SourceSpan

KEY = "bridge_dataset-train.tfrecord-00000-of-00001:00002"
SPAN = SourceSpan(
    topic="tailor.raw.robot", partition=0, first_offset=0, last_offset=9, start_time=0.0, end_time=1.0
)


def ex(ex_id: str, window: str, model: str = "SmolLM2", weights: str | None = None) -> Example:
    return Example(
        example_id=ex_id,
        task_family="next_subtask",
        output_json="{}",
        window_id=window,
        source=SPAN,
        model=model,
        weights_version=weights,
        created_at=0.0,
    )


def rej(ex_id: str, window: str, model: str = "SmolLM2", weights: str | None = None) -> RejectedExample:
    return RejectedExample(
        example_id=ex_id,
        task_family="next_subtask",
        window_id=window,
        reasons=["invalid_json"],
        model=model,
        weights_version=weights,
        created_at=0.0,
    )


def test_window_ids_split_into_domain_and_a_key_with_colons() -> None:
    assert window_recording(f"robot:{KEY}:3") == ("robot", KEY)
    assert window_recording(f"robot:{KEY}-r1:0") == ("robot", KEY + "-r1")


def test_acceptance_counts_distinct_model_candidates_of_one_version_on_the_named_recordings() -> None:
    held = frozenset({("robot", KEY)})
    accepted = [
        ex("a", f"robot:{KEY}:0"),
        ex("a", f"robot:{KEY}:0"),  # the same candidate twice
        ex("b", f"robot:{KEY}:1"),
        ex("rules", f"robot:{KEY}:0", model="rules"),
        ex("other", "robot:another:0"),
        ex("v1", f"robot:{KEY}-r1:0", weights="v1"),
    ]
    rejected = [
        rej("c", f"robot:{KEY}:0"),
        rej("v1x", f"robot:{KEY}-r1:1", weights="v1"),
        rej("v1y", f"robot:{KEY}:1", weights="v1"),
    ]  # v1 on the first pass's keys: not the second pass
    before = acceptance(accepted, rejected, None, held)
    assert (before.weights, before.candidates, before.accepted) == ("base", 3, 2)
    after = acceptance(accepted, rejected, "v1", held, suffix="-r1")
    assert (after.weights, after.candidates, after.accepted, after.rate) == ("v1", 2, 1, 0.5)
    assert "1/2 (50.0%)" in after.line(0.61) and "S_accepted 0.610" in after.line(0.61)
    assert acceptance([], [], None, held).rate is None
