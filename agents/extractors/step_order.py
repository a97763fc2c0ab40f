"""The checks every per-key step window shares: one key, step indices unique, in step order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from core.records.base import RecordError


class IndexedStep(Protocol):
    @property
    def step_index(self) -> int: ...


S = TypeVar("S", bound=IndexedStep)


def ordered_steps(
    steps: Sequence[S], key_of: Callable[[S], str], what: str, unit: str
) -> tuple[str, list[S]]:
    """(the one key, the steps sorted by step index); `what` names the window ("a GUI window"), `unit`
    its key ("session"). Raises RecordError: empty_window, mixed_keys, duplicate_step."""
    if not steps:
        raise RecordError("empty_window", f"{what} needs at least one step")
    keys = {key_of(s) for s in steps}
    if len(keys) != 1:
        raise RecordError("mixed_keys", f"window mixes {unit}s {sorted(keys)[:3]}")
    ordered = sorted(steps, key=lambda s: s.step_index)
    if len({s.step_index for s in ordered}) != len(ordered):
        raise RecordError("duplicate_step", f"{unit} {key_of(ordered[0])} repeats a step index")
    return key_of(ordered[0]), ordered
