"""Fragments of gui_task_reconstruction: the deterministic plan (true + distractor fragments) and its checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from agents.extractors.gui.spans import partition_problems
from agents.tasks.anchor_view import seeded
from agents.tasks.base import SynthesisContext, Validator, Violation
from agents.tasks.gui_task_reconstruction_config import GuiTaskReconstructionConfig
from agents.tasks.segments import tiled_units
from agents.tasks.validators import norm_text

LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class PlannedFragment:
    label: str
    description: str
    start: int
    end: int
    true: bool  # from this window (False: a distractor from another session)
    source: str  # window id it comes from


def plan_fragments(
    ctx: SynthesisContext, cfg: GuiTaskReconstructionConfig, salt: str
) -> list[PlannedFragment]:
    """This window's fragments plus distractors from other sessions, shuffled and labelled A, B, ...

    Deterministic: the shuffle and the distractor choice are seeded by the window id (same window and
    distractors → same plan). Empty when the window has fewer than two fragments.
    """
    a = ctx.anchors
    cut = cfg.max_description_chars
    units = tiled_units(a, cfg.max_true_fragments)
    if len(units) < 2:
        return []
    mine = [(u.text[:cut], u.start, u.end, True, a.window_id) for u in units]
    seen = {norm_text(m[0]) for m in mine}
    pool = []
    for d in sorted(ctx.distractors, key=lambda d: d.window_id):
        if d.domain != "gui" or d.key == a.key:
            continue
        for u in tiled_units(d, cfg.max_true_fragments):
            if norm_text(u.text[:cut]) not in seen:
                seen.add(norm_text(u.text[:cut]))
                pool.append((u.text[:cut], u.start, u.end, False, d.window_id))
    rng = seeded(a.window_id, salt)
    chosen = rng.sample(pool, min(cfg.max_distractor_fragments, len(pool)))
    mixed = mine + chosen
    rng.shuffle(mixed)
    return [PlannedFragment(LABELS[i], *m) for i, m in enumerate(mixed)]


class FragmentsOutput(Protocol):
    """What the fragment checks read from an output."""

    def fragment_labels(self) -> list[str]: ...

    def placements(self) -> list[tuple[str, int, int]]: ...


Planner = Callable[[SynthesisContext], list[PlannedFragment]]


def _out(output: BaseModel) -> FragmentsOutput:
    if not (hasattr(output, "fragment_labels") and hasattr(output, "placements")):
        raise TypeError(f"fragment checks need fragments and placements, got {type(output).__name__}")
    return output  # type: ignore[return-value]


class FragmentCheck(Validator):
    """Base of the fragment checks: they compare an output with the window's fragment plan."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner


class FragmentSetMatches(FragmentCheck):
    """The output lists exactly the planned labels, once each (fragment_mismatch)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        labels = _out(output).fragment_labels()
        planned = [p.label for p in self.planner(ctx)]
        if sorted(labels) == sorted(planned):
            return []
        return [Violation("fragment_mismatch", f"fragments {labels} but the window's plan has {planned}")]


class AnswerIsPermutation(FragmentCheck):
    """The answer orders exactly this window's fragments, each once (not_a_permutation)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        answer = [label for label, _, _ in _out(output).placements()]
        true = [p.label for p in self.planner(ctx) if p.true]
        if sorted(answer) == sorted(true):
            return []
        return [Violation("not_a_permutation", f"answer {answer} is not an ordering of {sorted(true)}")]


class DistractorNotInAnswer(FragmentCheck):
    """No fragment of another session appears in the answer (distractor_in_answer)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        foreign = {p.label: p.source for p in self.planner(ctx) if not p.true}
        return [
            Violation("distractor_in_answer", f"{label} comes from {foreign[label]}")
            for label, _, _ in _out(output).placements()
            if label in foreign
        ]


class PlacementsMatchFragments(FragmentCheck):
    """Each answered fragment sits on the frames it covers in this window (fragment_span_mismatch)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        spans = {p.label: (p.start, p.end) for p in self.planner(ctx) if p.true}
        return [
            Violation(
                "fragment_span_mismatch", f"{label} placed at [{s}, {e}] but covers {list(spans[label])}"
            )
            for label, s, e in _out(output).placements()
            if label in spans and spans[label] != (s, e)
        ]


class FragmentsNonOverlapping(Validator):
    """Consecutive answered fragments do not overlap (fragments_overlap)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        placed = _out(output).placements()
        return [
            Violation("fragments_overlap", f"{b[0]} [{b[1]}, {b[2]}] overlaps {a[0]} [{a[1]}, {a[2]}]")
            for a, b in zip(placed, placed[1:])
            if b[1] <= a[2]
        ]


class FragmentsContiguous(Validator):
    """The answered fragments, in order, cover frames 0..num_frames-1 without gaps (fragments_not_contiguous)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        spans = [(s, e) for _, s, e in _out(output).placements()]
        problems = [
            p
            for p in partition_problems(spans, ctx.anchors.num_frames)
            if p in ("gap", "not_from_start", "not_to_end", "no_spans")
        ]
        if not problems:
            return []
        return [Violation("fragments_not_contiguous", f"{','.join(problems)} in {spans}")]
