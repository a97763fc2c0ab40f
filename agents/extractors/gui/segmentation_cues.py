"""Cues for multi-event segmentation, as pure functions of the instruction and the steps.

Instruction cues: goals joined by ordering words ("then", "first ... then", "after that", numbered
enumerations) or referring back to an earlier goal ("share it") are *ordered*; goals joined by
"and" / commas before a new verb, "as well as" or "both ... and" are *unordered*.
Trajectory cues: app / domain crossings, returns to an earlier context (interleaving), the same
operation repeated apart, and action phase changes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.records import GuiStep

VERBS = (
    "open|go|search|find|look|buy|purchase|add|remove|delete|set|turn|send|share|play|book|check|compare|view|"
    "create|make|install|uninstall|download|upload|type|enter|select|choose|click|tap|navigate|call|take|show|"
    "save|change|sign|log|subscribe|order|reserve|rent|get|read|write|reply|post|like|follow|edit|copy|paste|"
    "move|sort|filter|apply|enable|disable|listen|watch|visit|browse|schedule|cancel|close|pay|track|locate|"
    "list|record|start|stop|email|text|message|mark|pick|rate|review|join|leave|clear|update|fill|submit"
)
_ORDER_WORDS = r"and then|then|after that|afterwards|after which|followed by|finally|subsequently"
_ORDERED = re.compile(rf"\b(?:{_ORDER_WORDS})\b|\bfirst\b.*\b(?:then|next|second|after)\b", re.IGNORECASE)
_NUMBERED = re.compile(r"(?:^|\s)(?:\(\d{1,2}\)|\d{1,2}[.)])(?=\s)")
_UNORDERED = re.compile(
    rf"\band\s+(?:also\s+)?(?:{VERBS})\b|,\s*(?:{VERBS})\b|\bas well as\b|\bboth\b.+\band\b", re.IGNORECASE
)
_SPLIT = re.compile(
    rf"\s*(?:;|,?\s*\b(?:{_ORDER_WORDS})\b|(?:^|\s)(?:\(\d{{1,2}}\)|\d{{1,2}}[.)])(?=\s)"
    rf"|,?\s*\band\s+(?=(?:also\s+)?(?:{VERBS})\b)|,\s*(?=(?:{VERBS})\b)|\bas well as\b)\s*",
    re.IGNORECASE,
)
_DEPENDENT = re.compile(r"\b(?:it|them|this|that|these|those|the results?)\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "from",
        "with",
        "by",
        "and",
        "or",
        "then",
        "first",
        "is",
        "are",
        "be",
        "it",
        "its",
        "this",
        "that",
        "my",
        "me",
        "i",
        "you",
        "your",
        "if",
        "not",
        "already",
        "up",
        "down",
        "into",
        "onto",
        "out",
        "over",
        "about",
        "as",
        "all",
        "any",
        "some",
    ]
)

POINTER = frozenset({"click", "hover"})
INPUT = frozenset({"type", "select", "key", "enter"})
NAVIGATE = frozenset({"scroll", "swipe", "home", "back", "wait"})


@dataclass(frozen=True)
class InstructionCues:
    goals: tuple[str, ...]
    ordered: bool
    unordered: bool


@dataclass(frozen=True)
class TrajectoryCues:
    contexts: tuple[str | None, ...]
    crossings: int
    revisits: bool
    repeated_ops: bool
    phase_cuts: tuple[int, ...]


def content_words(text: str | None) -> frozenset[str]:
    """Lower-case words of two or more characters that are not stop words."""
    if not text:
        return frozenset()
    return frozenset(w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in STOPWORDS)


def instruction_cues(text: str | None, max_goals: int = 20) -> InstructionCues:
    """Split an instruction into goal clauses and tell whether they are ordered, unordered or both."""
    flat = " ".join((text or "").split())
    if not flat:
        return InstructionCues(goals=(), ordered=False, unordered=False)
    parts = [p.strip(" ,.:-") for p in _SPLIT.split(flat)]
    goals = [
        re.sub(r"^(?:first|second|next|also)\s+", "", p, flags=re.IGNORECASE)
        for p in parts
        if content_words(p)
    ]
    if len(goals) > max_goals:
        goals = goals[: max_goals - 1] + [" ".join(goals[max_goals - 1 :])]
    numbered = len(_NUMBERED.findall(flat)) >= 2
    multi = len(goals) >= 2
    # a later goal that refers back ("share it", "the results") depends on an earlier one
    dependent = any(_DEPENDENT.search(g) for g in goals[1:])
    return InstructionCues(
        goals=tuple(goals),
        ordered=multi and (bool(_ORDERED.search(flat)) or numbered or dependent),
        unordered=multi and bool(_UNORDERED.search(flat)) and not dependent,
    )


def fill_contexts(contexts: Sequence[str | None]) -> list[str | None]:
    """Carry the last known context forward (and the first known one back over the start)."""
    filled: list[str | None] = []
    last: str | None = next((c for c in contexts if c is not None), None)
    for c in contexts:
        last = c if c is not None else last
        filled.append(last)
    return filled


def operation_signature(step: GuiStep) -> str | None:
    """Type plus target / typed text, lower-cased; None when the step names no target or text."""
    action = step.action
    target = action.target.text if action.target is not None else None
    label = " ".join((target or action.text or "").lower().split())
    return f"{action.type}:{label}" if label else None


def phase_of(step: GuiStep) -> str:
    kind = step.action.type
    if kind in POINTER:
        return "pointer"
    if kind in INPUT:
        return "input"
    if kind in NAVIGATE:
        return "navigate"
    return "other"


def phase_cuts(phases: Sequence[str], min_steps: int) -> list[int]:
    """Steps where a phase run of at least `min_steps` follows another run of at least `min_steps`."""
    runs: list[tuple[int, int, str]] = []
    for i, phase in enumerate(phases):
        if runs and runs[-1][2] == phase:
            runs[-1] = (runs[-1][0], i, phase)
        else:
            runs.append((i, i, phase))
    long_runs = [r for r in runs if r[1] - r[0] + 1 >= min_steps]
    return [b[0] for a, b in zip(long_runs, long_runs[1:])]


def trajectory_cues(
    steps: Sequence[GuiStep], contexts: Sequence[str | None], min_phase_steps: int
) -> TrajectoryCues:
    filled = fill_contexts(contexts)
    runs: list[str | None] = []
    for c in filled:
        if not runs or runs[-1] != c:
            runs.append(c)
    known = [c for c in runs if c is not None]
    seen_at: dict[tuple[str | None, str], list[int]] = {}
    for i, step in enumerate(steps):
        sig = operation_signature(step)
        if sig is not None:  # the same operation again, in the same app or site, after other steps
            seen_at.setdefault((filled[i], sig), []).append(i)
    repeated = any(any(b - a > 1 for a, b in zip(at, at[1:])) for at in seen_at.values())
    return TrajectoryCues(
        contexts=tuple(filled),
        crossings=max(0, len(runs) - 1),
        revisits=len(known) != len(set(known)),
        repeated_ops=repeated,
        phase_cuts=tuple(phase_cuts([phase_of(s) for s in steps], min_phase_steps)),
    )


def segmentation_label(instr: InstructionCues, traj: TrajectoryCues, fragments: int) -> str:
    """none / sequential / parallel / hybrid.

    parallel evidence: unordered goals, a return to an earlier app or site, the same operation
    repeated apart in one app or site (the same thing done for several items).
    sequential evidence: ordered goals, app / site crossings without return, or (with no instruction
    cue at all) several fragments cut by phase changes.
    hybrid when both kinds are present; none when neither is.
    """
    parallel = instr.unordered or traj.revisits or traj.repeated_ops
    sequential = (
        instr.ordered
        or (traj.crossings > 0 and not traj.revisits)
        or (fragments > 1 and not instr.unordered and not parallel)
    )
    if parallel and sequential:
        return "hybrid"
    if parallel:
        return "parallel"
    return "sequential" if sequential else "none"
