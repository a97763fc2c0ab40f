"""temporal_qa (video, robot, gui): a question about when / in which order events happen in the window."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agents.tasks.anchor_view import (
    EVENT_TYPES,
    anchored_frames,
    event_phrase,
    events,
    last_frame,
    norm,
    seconds_into,
    seeded,
)
from agents.tasks.base import (
    ChatMessage,
    Frame,
    FrameCite,
    FrameRange,
    RangeCite,
    SynthesisContext,
    TaskFamily,
    TaskOutput,
    Validator,
    checked,
)
from agents.tasks.constrained import ascending_runs, choice, fixed, obj, text
from agents.tasks.prompting import family_prompt
from agents.tasks.validators import FrameInRange
from core.records import Anchor, AnchorSet

MAX_EVIDENCE_POOL = 16  # event frames offered as evidence (the earliest ones)
MAX_EVIDENCE_CHOICES = 96  # ascending runs of one or two of them


class TemporalQaOutput(TaskOutput):
    question: str = Field(
        min_length=1, max_length=500, description="A question about timing or order of events."
    )
    answer: str = Field(min_length=1, max_length=500, description="The answer, naming frame indices.")
    cot: str = Field(max_length=2000, description="Short reasoning from the anchors to the answer.")
    input_video: FrameRange = Field(description="[start, end] frames the question is asked over.")
    evidence_frames: list[Frame] = Field(
        min_length=1, max_length=16, description="Anchored frames that show the answer, ascending."
    )

    def frame_cites(self) -> list[FrameCite]:
        return [FrameCite("input_video", f) for f in self.input_video] + self.grounded_cites()

    def range_cites(self) -> list[RangeCite]:
        return [RangeCite("input_video", *self.input_video)]

    def grounded_cites(self) -> list[FrameCite]:
        return [FrameCite(f"evidence_frames[{i}]", f) for i, f in enumerate(self.evidence_frames)]

    def frame_sequences(self) -> list[list[FrameCite]]:
        return [self.grounded_cites()]

    def reasoning(self) -> str:
        return self.cot

    def text_fields(self) -> list[tuple[str, str]]:
        return [("question", self.question), ("answer", self.answer), ("cot", self.cot)]


def _first_after(found: list[Anchor], first: Anchor) -> Anchor | None:
    for a in found:
        if a.frame_index > first.frame_index and event_phrase(a) != event_phrase(first):
            return a
    return None


class TemporalQa(TaskFamily):
    name = "temporal_qa"
    lacks = ("too_few_events", "no event anchor to ask about, or a one-frame window")
    domains = ("video", "robot", "gui")
    output_model = TemporalQaOutput
    target_types = EVENT_TYPES

    def anchor_targets(self, ctx: SynthesisContext) -> list[int]:
        """The window's events (what temporal questions are about)."""
        return sorted({e.frame_index for e in events(ctx.anchors) if e.frame_index < ctx.anchors.num_frames})

    def prompt(self, ctx: SynthesisContext) -> list[ChatMessage]:
        rules = (
            "input_video is a range with end > start; evidence_frames lie inside it and are anchor frames.",
            "Ask about when or in which order anchored events happen; the answer names their frames.",
            "cot: one or two sentences naming the anchors used (type and frame).",
        )
        goal = "Write one temporal question about this window, with its answer, cot and evidence frames."
        return family_prompt(self, ctx, goal, rules, (*EVENT_TYPES, "instruction", "subtask"))

    def window_schema(self, ctx: SynthesisContext) -> dict[str, Any] | None:
        """The whole window as input; evidence: one or two event frames in ascending order (all anchored)."""
        a = ctx.anchors
        last = last_frame(a)
        known = anchored_frames(a)
        pool = sorted({e.frame_index for e in events(a) if e.frame_index <= last and e.frame_index in known})
        if not pool:  # a clip without events (one shot): its key frames are still facts to ask about
            pool = [f for f in sorted(known) if f <= last]
        if last < 1 or not pool:
            return None
        runs = ascending_runs(pool[:MAX_EVIDENCE_POOL], 2, MAX_EVIDENCE_CHOICES)
        # Text limits: about 1.1x the longest benchmark reference (question 221, answer 235, cot 232 chars).
        return obj(
            {
                "question": text(240),
                "answer": text(260),
                "cot": text(260, 0),
                "input_video": fixed([0, last]),
                "evidence_frames": choice(runs),
            }
        )

    def rule_output(self, ctx: SynthesisContext) -> TemporalQaOutput | None:
        a = ctx.anchors
        found = events(a)
        last = last_frame(a)
        if not found or last < 1:
            return None
        first = found[0]
        second = _first_after(found, first)
        if second is None:
            return self._when(a, first, last)
        return self._order(a, first, second, last)

    def _when(self, a: AnchorSet, event: Anchor, last: int) -> TemporalQaOutput:
        clause = event_phrase(event)
        return TemporalQaOutput(
            question=f"In which frame does this {a.domain} window first show that {clause}?",
            answer=f"Frame {event.frame_index} (about {seconds_into(a, event):.1f} s into the window).",
            cot=f"Anchor {event.anchor_id} marks {event.type} at frame {event.frame_index}"
            + (f": {event.content[:80]}." if event.content else "."),
            input_video=(0, last),
            evidence_frames=[event.frame_index],
        )

    def _order(self, a: AnchorSet, first: Anchor, second: Anchor, last: int) -> TemporalQaOutput:
        p1, p2 = event_phrase(first), event_phrase(second)
        shown = [p1, p2]
        seeded(a.window_id, self.name).shuffle(shown)
        return TemporalQaOutput(
            question=f"Which happens first in this {a.domain} window: {shown[0]}, or {shown[1]}?",
            answer=f"First {p1} (frame {first.frame_index}); then {p2} (frame {second.frame_index}).",
            cot=f"Anchor {first.anchor_id} ({first.type}) is at frame {first.frame_index} and anchor "
            f"{second.anchor_id} ({second.type}) at frame {second.frame_index}; "
            f"{first.frame_index} < {second.frame_index}, so {p1} comes first.",
            input_video=(0, last),
            evidence_frames=[first.frame_index, second.frame_index],
        )

    def trajectory(self, ctx: SynthesisContext, output: BaseModel) -> list[float]:
        out = checked(output, TemporalQaOutput)
        n = ctx.anchors.num_frames
        return [
            norm(out.input_video[0], n),
            *(norm(f, n) for f in out.evidence_frames),
            norm(out.input_video[1], n),
        ]

    def validators(self) -> list[Validator]:
        return [
            *super().validators(),
            FrameInRange("evidence_frames", "input_video", "evidence_outside_input"),
        ]
