"""Multi-event segmentation expert: label a trajectory none / sequential / parallel / hybrid and cut it
into subtask fragments that are contiguous, non-overlapping and cover every step.

Fragments are cut where the app or site changes, where the step-to-goal assignment (content words
shared with an instruction clause) moves to another goal, and where long action phases change.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from agents.extractors.base import Extractor, ExtractorError
from agents.extractors.gui.segmentation_config import SegmentationConfig
from agents.extractors.gui.segmentation_cues import (
    InstructionCues,
    TrajectoryCues,
    content_words,
    instruction_cues,
    segmentation_label,
    trajectory_cues,
)
from agents.extractors.gui.spans import anchor_id, partition_problems, spans_from_cuts
from agents.extractors.gui.transitions import step_contexts
from agents.extractors.gui.window import GuiWindow
from core.records import Anchor, GuiStep

log = logging.getLogger(__name__)


def goal_score(step: GuiStep, goal_words: frozenset[str]) -> int:
    """Content words a step shares with a goal; typed / selected text counts twice (it is the user's
    content, while a target label is often interface chrome such as "search")."""
    action = step.action
    target = action.target.text if action.target is not None else None
    return 2 * len(content_words(action.text) & goal_words) + len(content_words(target) & goal_words)


def goal_assignment(
    steps: Sequence[GuiStep], goals: Sequence[str], contexts: Sequence[str | None], min_overlap: int
) -> list[int | None]:
    """Per step, the goal it serves: the clause scoring highest (`goal_score` at least `min_overlap`;
    ties keep the current goal, else the earlier one). Steps that match no goal take the goal of the
    next matching step in the same app / site, else the previous one."""
    if len(goals) < 2:
        return [None] * len(steps)
    goal_words = [content_words(g) for g in goals]
    matched: list[int | None] = []
    current: int | None = None
    for i, step in enumerate(steps):
        if i > 0 and contexts[i] != contexts[i - 1]:
            current = None
        scores = [goal_score(step, gw) for gw in goal_words]
        top = max(scores)
        if top >= min_overlap:
            tied = [g for g, score in enumerate(scores) if score == top]
            current = current if current in tied else tied[0]
            matched.append(current)
        else:
            matched.append(None)
    out = list(matched)
    upcoming: int | None = None
    for i in range(len(steps) - 1, -1, -1):  # back-fill within a context run
        if i + 1 < len(steps) and contexts[i + 1] != contexts[i]:
            upcoming = None
        upcoming = matched[i] if matched[i] is not None else upcoming
        out[i] = upcoming
    previous: int | None = None
    for i in range(len(steps)):  # forward-fill what is left
        previous = out[i] if out[i] is not None else previous
        out[i] = previous
    return out


def fragment_cuts(
    contexts: Sequence[str | None], assignment: Sequence[int | None], traj: TrajectoryCues
) -> list[int]:
    """Step indices where a new fragment starts (0 is implied)."""
    cuts = {i for i in range(1, len(contexts)) if traj.contexts[i] != traj.contexts[i - 1]}
    cuts |= {
        i
        for i in range(1, len(assignment))
        if assignment[i] is not None and assignment[i] != assignment[i - 1]
    }
    cuts |= set(traj.phase_cuts)
    return sorted(cuts)


def describe(
    steps: Sequence[GuiStep], start: int, end: int, context: str | None, goal: str | None, limit: int
) -> str:
    """Short description of a fragment: its goal clause when known, else its operations and context."""
    if goal:
        text = goal
    else:
        counts = Counter(s.action.type for s in steps[start : end + 1])
        ops = ", ".join(f"{kind} x{n}" if n > 1 else kind for kind, n in counts.items())
        text = f"{ops} in {context}" if context else ops
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SegmentationExtractor(Extractor[GuiWindow]):
    """`subtask` span anchors covering the window, plus one `segmentation` anchor with the label."""

    name = "segmentation"

    def __init__(self, config: SegmentationConfig | None = None) -> None:
        self.config = config or SegmentationConfig()

    def extract(self, window: GuiWindow) -> list[Anchor]:
        steps = window.steps
        if not steps:
            return []
        cfg = self.config
        instr: InstructionCues = instruction_cues(window.instruction, cfg.max_goals)
        contexts = step_contexts(window)
        traj = trajectory_cues(steps, contexts, cfg.min_phase_steps)
        assignment = goal_assignment(steps, instr.goals, traj.contexts, cfg.min_goal_overlap)
        spans = spans_from_cuts(fragment_cuts(contexts, assignment, traj), len(steps))
        problems = partition_problems(spans, len(steps))
        if problems:  # cannot happen by construction; guard the contract all the same
            raise ExtractorError(self.name, "bad_partition", ",".join(problems))
        label = segmentation_label(instr, traj, len(spans))
        anchors: list[Anchor] = []
        for start, end in spans:
            goals = [g for g in assignment[start : end + 1] if g is not None]
            goal = instr.goals[goals[0]] if goals else (instr.goals[0] if len(instr.goals) == 1 else None)
            anchors.append(
                Anchor(
                    anchor_id=anchor_id(self.name, "subtask", start, end),
                    type="subtask",
                    frame_index=start,
                    timestamp=steps[start].timestamp,
                    end_frame_index=end,
                    end_timestamp=steps[end].timestamp,
                    content=describe(
                        steps, start, end, traj.contexts[start], goal, cfg.max_description_chars
                    ),
                    evidence_frames=sorted({start, end}),
                )
            )
        last = len(steps) - 1
        anchors.append(
            Anchor(
                anchor_id=anchor_id(self.name, "segmentation", 0, last),
                type="segmentation",
                frame_index=0,
                timestamp=steps[0].timestamp,
                end_frame_index=last,
                end_timestamp=steps[last].timestamp,
                content=label,
                value=float(len(spans)),
            )
        )
        log.debug("window %s: %s, %d fragments, goals=%d", window.key, label, len(spans), len(instr.goals))
        return anchors
