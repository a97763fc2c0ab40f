"""next_subtask (robot, gui): given the frames so far, the subtask that comes next (text and frames)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agents.tasks.anchor_view import norm
from agents.tasks.base import (
    ChatMessage, FrameCite, FrameRange, RangeCite, SynthesisContext, TaskFamily, TaskOutput, TaskPart, Validator,
    checked,
)
from agents.tasks.prompting import family_prompt
from agents.tasks.segments import Unit, step_units
from agents.tasks.validators import RangeAfter

ROBOT_PHASES = {
    "reach": "reach toward the object",
    "carry": "carry the grasped object",
    "release": "release the object and move away",
    "pause": "pause without moving",
    "move": "move the arm",
}


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
        return [RangeCite("input_range", *self.input_range), RangeCite("next_subtask.range", *self.next_subtask.range)]

    def grounded_cites(self) -> list[FrameCite]:
        return [FrameCite("input_range", self.input_range[1]),
                *(FrameCite("next_subtask.range", f) for f in self.next_subtask.range)]

    def reasoning(self) -> str:
        return self.cot


def unit_text(unit: Unit, domain: str, instruction: str | None) -> str:
    if domain != "robot":
        return unit.text
    text = ROBOT_PHASES.get(unit.text, unit.text)
    return f"{text} (task: {instruction})" if instruction else text


class NextSubtaskFamily(TaskFamily):
    name = "next_subtask"
    domains = ("robot", "gui")
    output_model = NextSubtaskOutput

    def prompt(self, ctx: SynthesisContext) -> list[ChatMessage]:
        rules = (
            "input_range starts at 0 and ends on the frame before an anchored subtask (or action) starts.",
            "next_subtask.range is that subtask's anchored span, starting after input_range, end > start.",
        )
        goal = "Write one next-subtask example: what comes after the observed frames."
        return family_prompt(self, ctx, goal, rules, ("subtask", "instruction", "gui_action", "gripper_close",
                                                      "gripper_open", "stall"))

    def rule_output(self, ctx: SynthesisContext) -> NextSubtaskOutput | None:
        a = ctx.anchors
        units = step_units(a)
        for k in range(1, len(units)):
            unit, prev = units[k], units[k - 1]
            if unit.start < 2 or unit.end <= unit.start or unit.end >= a.num_frames:
                continue
            text = unit_text(unit, a.domain, a.instruction)
            done = unit_text(prev, a.domain, a.instruction)
            cot = (f"Up to frame {unit.start - 1} the last subtask was '{done}' (from frame {prev.start}). "
                   f"The next anchored subtask, '{text}', spans frames {unit.start}-{unit.end}.")
            return NextSubtaskOutput(
                input_range=(0, unit.start - 1),
                next_subtask=NextSubtask(text=text[:300], range=(unit.start, unit.end)),
                cot=cot,
            )
        return None

    def trajectory(self, ctx: SynthesisContext, output: BaseModel) -> list[float]:
        out = checked(output, NextSubtaskOutput)
        n = ctx.anchors.num_frames
        return [norm(f, n) for f in (*out.input_range, *out.next_subtask.range)]

    def validators(self) -> list[Validator]:
        return [*super().validators(), RangeAfter("input_range", "next_subtask.range", "next_not_after_input")]
