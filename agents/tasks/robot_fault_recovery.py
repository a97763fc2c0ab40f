"""robot_fault_recovery (robot): a freeze frame inside a stall, what was observed, and how the robot recovers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agents.tasks.anchor_view import (
    anchored_frames,
    event_phrase,
    events,
    last_frame,
    norm,
    of_type,
    span_end,
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
    Violation,
    checked,
)
from agents.tasks.base_config import PromptConfig
from agents.tasks.constrained import choice, fixed, obj, text
from agents.tasks.prompting import family_prompt
from agents.tasks.robot_fault_recovery_config import RobotFaultRecoveryConfig
from agents.tasks.validators import FrameInRange, RangeAfter
from core.records import Anchor, AnchorSet


class RobotFaultRecoveryOutput(TaskOutput):
    freeze_frame: Frame = Field(description="The frame where the robot is stuck (an anchored stall frame).")
    observation: FrameRange = Field(
        description="[start, end] frames shown before the question; holds the freeze frame."
    )
    recovery: FrameRange = Field(
        description="[start, end] frames after the observation where the robot recovers."
    )
    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=1, max_length=500, description="What the robot should do to recover.")
    cot: str = Field(max_length=2000, description="Short reasoning from the anchors to the answer.")

    def frame_cites(self) -> list[FrameCite]:
        return (
            [FrameCite("observation", f) for f in self.observation]
            + self.grounded_cites()
            + [FrameCite("recovery", f) for f in self.recovery]
        )

    def range_cites(self) -> list[RangeCite]:
        return [RangeCite("observation", *self.observation), RangeCite("recovery", *self.recovery)]

    def grounded_cites(self) -> list[FrameCite]:
        return [FrameCite("freeze_frame", self.freeze_frame)]

    def reasoning(self) -> str:
        return self.cot

    def text_fields(self) -> list[tuple[str, str]]:
        return [("question", self.question), ("answer", self.answer), ("cot", self.cot)]


def phase_at(a: AnchorSet, frame: int) -> Anchor | None:
    return next((s for s in of_type(a, "subtask") if s.frame_index <= frame <= span_end(s)), None)


class FreezeOnStall(Validator):
    """The freeze frame lies inside a stall anchor's span (freeze_not_on_stall)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        frame = checked(output, RobotFaultRecoveryOutput).freeze_frame
        if any(s.frame_index <= frame <= span_end(s) for s in of_type(ctx.anchors, "stall")):
            return []
        return [Violation("freeze_not_on_stall", f"freeze_frame={frame} is inside no stall anchor")]


class RobotFaultRecovery(TaskFamily):
    name = "robot_fault_recovery"
    lacks = ("no_stall", "no stall anchor: the robot never stalled in this window")
    domains = ("robot",)
    output_model = RobotFaultRecoveryOutput
    target_types = ("stall",)

    def __init__(
        self, config: RobotFaultRecoveryConfig | None = None, prompt_config: PromptConfig | None = None
    ) -> None:
        super().__init__(prompt_config)
        self.config = config or RobotFaultRecoveryConfig()

    def prompt(self, ctx: SynthesisContext) -> list[ChatMessage]:
        rules = (
            "The fault is a stall anchor; freeze_frame is one of its frames and lies inside observation.",
            "observation ends at or before the stall's end; recovery starts after observation, end > start.",
            "The answer says what the robot does next, from the anchors after the stall.",
        )
        goal = "Write one fault-recovery example around a stall in this window."
        relevant = (
            "stall",
            "subtask",
            "instruction",
            "gripper_close",
            "gripper_open",
            "contact",
            "lift",
            "key_frame",
        )
        return family_prompt(self, ctx, goal, rules, relevant)

    def fault(self, a: AnchorSet) -> Anchor | None:
        """The longest stall (earliest on ties) with a positive observation range and two frames after it."""
        last = last_frame(a)
        before = self.config.observation_before
        ok = [
            s
            for s in of_type(a, "stall")
            if span_end(s) + 2 <= last and span_end(s) > max(0, s.frame_index - before)
        ]
        if not ok:
            return None
        return max(ok, key=lambda s: (span_end(s) - s.frame_index, -s.frame_index))

    def rule_output(self, ctx: SynthesisContext) -> RobotFaultRecoveryOutput | None:
        a = ctx.anchors
        stall = self.fault(a)
        if stall is None:
            return None
        cfg = self.config
        start, end = stall.frame_index, span_end(stall)
        obs = (max(0, start - cfg.observation_before), end)
        rec_start = end + 1
        rec_end = min(last_frame(a), rec_start + cfg.max_recovery_frames - 1)
        resumed = phase_at(a, rec_start)
        if resumed is not None and span_end(resumed) > rec_start:
            rec_end = min(rec_end, span_end(resumed))
        before = phase_at(a, start)
        after = [e for e in events(a) if rec_start <= e.frame_index <= rec_end and e.type != "stall"]
        goal = f" while trying to {a.instruction.rstrip('.')}" if a.instruction else ""
        phase = resumed.content if resumed is not None else "task"
        if after:
            answer = (
                f"Resume the {phase} phase: "
                + "; then ".join(f"{event_phrase(e)} (frame {e.frame_index})" for e in after[:3])
                + "."
            )
        else:
            answer = f"Resume the {phase} motion; the robot moves again from frame {rec_start}."
        cot = (
            f"Anchor {stall.anchor_id} shows a stall over frames {start}-{end} ({stall.content[:60]}). "
            f"The robot was in the '{before.content if before is not None else 'task'}' phase. "
            f"From frame {rec_start} it is in the '{phase}' phase"
            + (f" and {event_phrase(after[0])} at frame {after[0].frame_index}." if after else ".")
        )
        return RobotFaultRecoveryOutput(
            freeze_frame=start,
            observation=obs,
            recovery=(rec_start, rec_end),
            question=f"The robot is stuck at frame {start}{goal}. Having seen frames {obs[0]}-{obs[1]}, "
            "what should it do to recover?",
            answer=answer,
            cot=cot,
        )

    def window_schema(self, ctx: SynthesisContext) -> dict[str, Any] | None:
        """The fault's observation and recovery spans; the freeze frame: an anchored frame of the stall."""
        rule = self.rule_output(ctx)
        stall = self.fault(ctx.anchors)
        if rule is None or stall is None:
            return None
        known = anchored_frames(ctx.anchors)
        lo, hi = max(stall.frame_index, rule.observation[0]), min(span_end(stall), rule.observation[1])
        freeze = [f for f in sorted(known) if lo <= f <= hi] or [rule.freeze_frame]
        # Text limits: about 2x the benchmark references (question 93, answer 96, cot 152 chars).
        return obj(
            {
                "freeze_frame": choice(freeze),
                "observation": fixed(list(rule.observation)),
                "recovery": fixed(list(rule.recovery)),
                "question": text(200),
                "answer": text(200),
                "cot": text(260, 0),
            }
        )

    def trajectory(self, ctx: SynthesisContext, output: BaseModel) -> list[float]:
        out = checked(output, RobotFaultRecoveryOutput)
        n = ctx.anchors.num_frames
        frames = [out.observation[0], out.freeze_frame, out.observation[1], *out.recovery]
        return [norm(f, n) for f in frames]

    def validators(self) -> list[Validator]:
        return [
            *super().validators(),
            FreezeOnStall(),
            FrameInRange("freeze_frame", "observation", "freeze_outside_observation"),
            RangeAfter("observation", "recovery", "recovery_not_after_observation"),
        ]
