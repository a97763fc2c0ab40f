"""world_model_sample (video, robot): a motion-rich segment, frames to condition on, a prompt and a motion plan."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agents.tasks.anchor_view import anchored_frames, event_phrase, events, norm, of_type, span_end
from agents.tasks.base import (
    ChatMessage,
    Frame,
    FrameCite,
    FrameRange,
    RangeCite,
    SynthesisContext,
    TaskFamily,
    TaskOutput,
    TaskPart,
    TaskSpec,
    Validator,
    checked,
)
from agents.tasks.base_config import PromptConfig
from agents.tasks.constrained import fixed, obj, seq, text
from agents.tasks.prompting import family_prompt
from agents.tasks.robot_phases import phase_label
from agents.tasks.validators import FrameInRange
from agents.tasks.world_model_sample_config import WorldModelSampleConfig
from core.records import Anchor, AnchorSet


class PlanStep(TaskPart):
    frame: Frame = Field(description="Anchored frame where this part of the motion happens.")
    description: str = Field(min_length=1, max_length=200, description="What moves, and how.")


class WorldModelSampleOutput(TaskOutput):
    segment: FrameRange = Field(description="[start, end] frames of the motion-rich segment.")
    frames: list[Frame] = Field(min_length=2, max_length=32, description="Frames to condition on, ascending.")
    prompt: str = Field(
        min_length=1, max_length=600, description="Generation prompt for a video world model."
    )
    motion_plan: list[PlanStep] = Field(min_length=1, max_length=16, description="The motion, in time order.")

    def frame_cites(self) -> list[FrameCite]:
        return (
            [FrameCite("segment", f) for f in self.segment]
            + [FrameCite(f"frames[{i}]", f) for i, f in enumerate(self.frames)]
            + self.grounded_cites()
        )

    def range_cites(self) -> list[RangeCite]:
        return [RangeCite("segment", *self.segment)]

    def grounded_cites(self) -> list[FrameCite]:
        return [FrameCite(f"motion_plan[{i}].frame", s.frame) for i, s in enumerate(self.motion_plan)]

    def frame_sequences(self) -> list[list[FrameCite]]:
        return [[FrameCite(f"frames[{i}]", f) for i, f in enumerate(self.frames)], self.grounded_cites()]

    def reasoning(self) -> str:
        return " ".join([self.prompt, *(s.description for s in self.motion_plan)])

    def text_fields(self) -> list[tuple[str, str]]:
        return [
            ("prompt", self.prompt),
            *((f"motion_plan[{i}].description", s.description) for i, s in enumerate(self.motion_plan)),
        ]


def stalled(a: AnchorSet, start: int, end: int) -> int:
    return sum(max(0, min(end, span_end(s)) - max(start, s.frame_index) + 1) for s in of_type(a, "stall"))


class WorldModelSample(TaskFamily):
    name = "world_model_sample"
    lacks = ("no_motion_segment", "no motion, subtask or lift span long enough to sample")
    domains = ("video", "robot")
    output_model = WorldModelSampleOutput
    target_types = (
        "motion",
        "subtask",
        "lift",
        "gripper_close",
        "gripper_open",
        "contact",
        "scene_cut",
        "key_frame",
    )

    def __init__(
        self, config: WorldModelSampleConfig | None = None, prompt_config: PromptConfig | None = None
    ) -> None:
        super().__init__(prompt_config)
        self.config = config or WorldModelSampleConfig()

    def prompt(self, ctx: SynthesisContext) -> list[ChatMessage]:
        rules = (
            "segment is a motion-rich anchored span (motion, subtask or lift), end > start; frames and "
            "motion_plan frames lie inside it, ascending; plan frames are anchor frames.",
            "prompt describes the scene and its motion for a video generator; no facts beyond the anchors.",
        )
        goal = "Write one world-model training sample from the most motion-rich part of this window."
        relevant = (
            "motion",
            "scene_cut",
            "key_frame",
            "subtask",
            "lift",
            "gripper_close",
            "gripper_open",
            "contact",
            "stall",
            "instruction",
        )
        return family_prompt(self, ctx, goal, rules, relevant)

    def segment_anchor(self, a: AnchorSet) -> Anchor | None:
        """Video: the most energetic motion span. Robot: the moving subtask or lift span with most moving frames."""
        minimum = self.config.min_segment_frames
        if a.domain == "video":
            spans = [m for m in of_type(a, "motion") if span_end(m) - m.frame_index + 1 >= minimum]
            return max(spans, key=lambda m: (m.value or 0.0, -m.frame_index), default=None)
        spans = [
            s
            for s in of_type(a, "subtask", "lift")
            if s.content != "pause" and span_end(s) - s.frame_index + 1 >= minimum
        ]
        return max(
            spans,
            key=lambda s: (
                span_end(s) - s.frame_index + 1 - stalled(a, s.frame_index, span_end(s)),
                -s.frame_index,
            ),
            default=None,
        )

    def rule_output(self, ctx: SynthesisContext) -> WorldModelSampleOutput | None:
        a = ctx.anchors
        seg = self.segment_anchor(a)
        if seg is None or span_end(seg) >= a.num_frames:
            return None
        cfg = self.config
        start = seg.frame_index
        end = min(span_end(seg), start + cfg.max_segment_frames - 1)
        frames = self.conditioning_frames(a, start, end)
        label = phase_label(seg.content, a.instruction) if a.domain == "robot" else f"{seg.content} motion"
        plan = [PlanStep(frame=start, description=f"{label} begins"[:200])]
        inside = [e for e in events(a) if start < e.frame_index <= end]
        shots = (
            [k for k in of_type(a, "key_frame") if start < k.frame_index <= end]
            if a.domain == "video"
            else []
        )
        marks = sorted(
            [(e.frame_index, event_phrase(e)) for e in inside]
            + [(k.frame_index, "key frame of the shot") for k in shots]
        )
        plan += [PlanStep(frame=f, description=text[:200]) for f, text in marks[: cfg.max_plan_steps - 2]]
        # frames stored only because a sample cites them are not facts about the window
        facts = anchored_frames(
            a.model_copy(update={"key_frames": [k for k in a.key_frames if k.role != "cited"]})
        )
        if end in facts and end > plan[-1].frame:
            plan.append(PlanStep(frame=end, description=f"{label} ends"[:200]))
        seconds = max(0.0, self._time(a, end) - self._time(a, start))
        subject = "A robot arm" if a.domain == "robot" else "A video shot"
        what = f"{subject}: {label}" + (
            f" (task: {a.instruction})" if a.domain == "robot" and a.instruction else ""
        )
        if inside:
            what += "; " + "; then ".join(event_phrase(e) for e in inside[:4])
        prompt = f"{what}. {end - start + 1} frames, {seconds:.1f} s."
        return WorldModelSampleOutput(
            segment=(start, end), frames=frames, prompt=prompt[:600], motion_plan=plan
        )

    def conditioning_frames(self, a: AnchorSet, start: int, end: int) -> list[int]:
        """Frames to condition on: the window's stored key frames inside the segment when it has two or more
        (the anchor stage stores them for this purpose, so the row carries their images), else frames
        sampled evenly over the segment."""
        k = self.config.sample_frames
        stored = sorted({kf.frame_index for kf in a.key_frames if start <= kf.frame_index <= end})
        if len(stored) >= 2:
            return (
                stored
                if len(stored) <= k
                else sorted({stored[round(i * (len(stored) - 1) / (k - 1))] for i in range(k)})
            )
        k = min(k, end - start + 1)
        return sorted({round(start + i * (end - start) / (k - 1)) for i in range(k)})

    def frames_to_store(self, a: AnchorSet) -> list[int]:
        """The frames a sample of this window would cite (segment ends, conditioning frames, plan frames),
        computed on the window's anchors before its key frames are chosen: the anchor stage stores an image
        of each, so a world-model row carries the frames it cites."""
        out = self.rule_output(SynthesisContext(a, TaskSpec(task_family=self.name), ()))
        return [] if out is None else sorted({c.frame for c in out.frame_cites()})

    def window_schema(self, ctx: SynthesisContext) -> dict[str, Any] | None:
        """The most motion-rich anchored segment, its sampled frames and the anchored plan frames; the model
        writes the prompt and the plan's words."""
        rule = self.rule_output(ctx)
        if rule is None:
            return None
        plan = [obj({"frame": fixed(s.frame), "description": text(120)}) for s in rule.motion_plan]
        # Text limits: about 1.2x the longest benchmark references (prompt 195, plan step 103 chars).
        return obj(
            {
                "segment": fixed(list(rule.segment)),
                "frames": fixed(list(rule.frames)),
                "prompt": text(240),
                "motion_plan": seq(plan),
            }
        )

    @staticmethod
    def _time(a: AnchorSet, frame: int) -> float:
        """Stream time of a frame, interpolated over the window's span (anchors carry only their own times)."""
        span = a.span
        return span.start_time + (span.end_time - span.start_time) * norm(frame, a.num_frames)

    def trajectory(self, ctx: SynthesisContext, output: BaseModel) -> list[float]:
        out = checked(output, WorldModelSampleOutput)
        n = ctx.anchors.num_frames
        return [norm(f, n) for f in (out.segment[0], *(s.frame for s in out.motion_plan), out.segment[1])]

    def validators(self) -> list[Validator]:
        return [
            *super().validators(),
            FrameInRange("frames", "segment", "frame_outside_segment"),
            FrameInRange("motion_plan.frame", "segment", "plan_outside_segment"),
        ]
