"""The shared window checks: one key, unique step indices, step order."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from agents.extractors.step_order import ordered_steps
from core.records.base import RecordError


@dataclass
class Step:
    key: str
    step_index: int


def test_sorts_one_key_by_step_index() -> None:
    key, ordered = ordered_steps(
        [Step("a", 3), Step("a", 1), Step("a", 2)], lambda s: s.key, "a window", "episode"
    )
    assert key == "a" and [s.step_index for s in ordered] == [1, 2, 3]


@pytest.mark.parametrize(
    ("steps", "reason", "said"),
    [
        ([], "empty_window", "a window needs at least one step"),
        ([Step("a", 0), Step("b", 1)], "mixed_keys", "window mixes episodes ['a', 'b']"),
        ([Step("a", 0), Step("a", 0)], "duplicate_step", "episode a repeats a step index"),
    ],
)
def test_refuses_with_a_reason(steps: list[Step], reason: str, said: str) -> None:
    with pytest.raises(RecordError) as err:
        ordered_steps(steps, lambda s: s.key, "a window", "episode")
    assert err.value.reason == reason and said in err.value.detail
