"""next_subtask (robot, gui): given the frames so far, the subtask that comes next (text and frames)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agents.tasks.anchor_view import norm
from agents.tasks.base import (
    ChatMessage,
    FrameCite,
    FrameRange,
    RangeCite,
    SynthesisContext,
    TaskFamily,
    TaskOutput,
    TaskPart,
    Validator,
    checked,
)
from agents.tasks.constrained import fixed, obj, text
from agents.tasks.prompting import family_prompt
from agents.tasks.robot_phases import GENERIC, phase_label
from agents.tasks.segments import Unit, step_units
from agents.tasks.validators import FramesAnchored, FramesInWindow, RangeAfter, RangesPositive

ROBOT_PHASES = GENERIC  # the words without an instruction (robot_phases.phase_label has the task's words)


class NextSubtask(TaskPart):
    text: str = Field(min_length=1, max_length=300, description="What the next subtask does.")
    range: FrameRange = Field(description="[start, end] frames of the next subtask (anchored).")


class NextSubtaskOutput(TaskOutput):
    input_range: FrameRange = Field(description="[start, end] frames observed so far.")
    next_subtask: NextSubtask
    cot: str = Field(max_length=2000, description="Short reasoning from the anchors.")

    def frame_cites(self) -> list[FrameCite]:
        return [FrameCite("input_range", self.input_range[0]), *self.grounded_cites()]

    def range_cites(self) -> list[RangeCite]:
        return [
            RangeCite("input_range", *self.input_range),
            RangeCite("next_subtask.range", *self.next_subtask.range),
        ]

    def grounded_cites(self) -> list[FrameCite]:
        return [
            FrameCite("input_range", self.input_range[1]),
            *(FrameCite("next_subtask.range", f) for f in self.next_subtask.range),
        ]

    def reasoning(self) -> str:
        return self.cot

    def text_fields(self) -> list[tuple[str, str]]:
        return [("next_subtask.text", self.next_subtask.text), ("cot", self.cot)]


def unit_text(unit: Unit, domain: str, instruction: str | None) -> str:
    if domain != "robot":
        return unit.text
    text = phase_label(unit.text, instruction)  # the instruction's verb and object, not a fixed phrase
    return f"{text} (task: {instruction})" if instruction else text


class NextSubtaskFamily(TaskFamily):
    name = "next_subtask"
    lacks = ("no_next_subtask", "no subtask boundary with a subtask after it")
    domains = ("robot", "gui")
    output_model = NextSubtaskOutput
    target_types = ("subtask", "gui_action")

    def prompt(self, ctx: SynthesisContext) -> list[ChatMessage]:
        rules = (
            "input_range starts at 0 and ends on the frame before an anchored subtask (or action) starts.",
            "next_subtask.range is that subtask's anchored span, starting after input_range, end > start.",
        )
        goal = "Write one next-subtask example: what comes after the observed frames."
        return family_prompt(
            self,
            ctx,
            goal,
            rules,
            ("subtask", "instruction", "gui_action", "gripper_close", "gripper_open", "stall"),
        )

    def window_schema(self, ctx: SynthesisContext) -> dict[str, Any] | None:
        """Any legal (observed, next) pair of the window: observed frames end right before an anchored
        subtask (or action) that the frame checks accept; the model writes the text and the reasoning."""
        options = []
        for _k, unit, _ in self.candidates(ctx):
            draft = NextSubtaskOutput(
                input_range=(0, unit.start - 1),
                next_subtask=NextSubtask(text="-", range=(unit.start, unit.end)),
                cot="",
            )
            checks = (FramesInWindow(), RangesPositive(), FramesAnchored(), self._after)
            if any(c.check(ctx, draft) for c in checks):
                continue
            # Text limits: about 1.3x the longest benchmark reference text (91 chars); cot 300 (references
            # 183 chars typical).
            options.append(
                obj(
                    {
                        "input_range": fixed([0, unit.start - 1]),
                        "next_subtask": obj({"text": text(120), "range": fixed([unit.start, unit.end])}),
                        "cot": text(300, 0),
                    }
                )
            )
        if not options:
            return None
        return options[0] if len(options) == 1 else {"anyOf": options}

    @property
    def _after(self) -> RangeAfter:
        return RangeAfter("input_range", "next_subtask.range", "next_not_after_input")

    @staticmethod
    def candidates(ctx: SynthesisContext) -> list[tuple[int, Unit, Unit]]:
        """(index, unit, previous unit) of every step unit that can be "the next subtask"."""
        a = ctx.anchors
        units = step_units(a)
        return [
            (k, units[k], units[k - 1])
            for k in range(1, len(units))
            if units[k].start >= 2 and units[k].end > units[k].start and units[k].end < a.num_frames
        ]

    def rule_output(self, ctx: SynthesisContext) -> NextSubtaskOutput | None:
        a = ctx.anchors
        for _, unit, prev in self.candidates(ctx):
            label = unit_text(unit, a.domain, a.instruction)
            done = unit_text(prev, a.domain, a.instruction)
            cot = (
                f"Up to frame {unit.start - 1} the last subtask was '{done}' (from frame {prev.start}). "
                f"The next anchored subtask, '{label}', spans frames {unit.start}-{unit.end}."
            )
            return NextSubtaskOutput(
                input_range=(0, unit.start - 1),
                next_subtask=NextSubtask(text=label[:300], range=(unit.start, unit.end)),
                cot=cot,
            )
        return None

    def trajectory(self, ctx: SynthesisContext, output: BaseModel) -> list[float]:
        out = checked(output, NextSubtaskOutput)
        n = ctx.anchors.num_frames
        return [norm(f, n) for f in (*out.input_range, *out.next_subtask.range)]

    def validators(self) -> list[Validator]:
        return [*super().validators(), self._after]
