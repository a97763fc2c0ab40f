"""tutorial (gui, video): ordered how-to steps, each pinned to a key frame or an anchor's frame."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from agents.tasks.anchor_view import (
    action_phrase,
    key_frame_indices,
    norm,
    of_type,
    parse_action,
    span_end,
)
from agents.tasks.base import (
    ChatMessage,
    Frame,
    FrameCite,
    SynthesisContext,
    TaskFamily,
    TaskOutput,
    TaskPart,
    checked,
)
from agents.tasks.constrained import fixed, obj, seq, text
from agents.tasks.prompting import family_prompt
from core.records import AnchorSet

MAX_STEPS = 32
_SHOT = re.compile(r"shot (\d+)-(\d+)")


class TutorialStep(TaskPart):
    text: str = Field(min_length=1, max_length=300, description="One instruction, in the imperative.")
    frame: Frame = Field(description="The key frame or anchor frame that shows this step.")


class TutorialOutput(TaskOutput):
    title: str = Field(min_length=1, max_length=200, description="What the tutorial teaches.")
    steps: list[TutorialStep] = Field(min_length=1, max_length=MAX_STEPS, description="Steps in time order.")

    def frame_cites(self) -> list[FrameCite]:
        return self.grounded_cites()

    def grounded_cites(self) -> list[FrameCite]:
        return [FrameCite(f"steps[{i}].frame", s.frame) for i, s in enumerate(self.steps)]

    def frame_sequences(self) -> list[list[FrameCite]]:
        return [self.grounded_cites()]

    def reasoning(self) -> str:
        return " ".join(s.text for s in self.steps)

    def text_fields(self) -> list[tuple[str, str]]:
        return [("title", self.title), *((f"steps[{i}].text", s.text) for i, s in enumerate(self.steps))]


def gui_steps(a: AnchorSet) -> list[TutorialStep]:
    return [
        TutorialStep(text=action_phrase(parse_action(x.content)), frame=x.frame_index)
        for x in of_type(a, "gui_action")
    ]


def video_steps(a: AnchorSet) -> list[TutorialStep]:
    """One step per key frame: its shot's motion level and any on-screen text of that shot."""
    motions = of_type(a, "motion")
    texts = of_type(a, "ocr_text", "text_appears")
    cuts = {x.frame_index for x in of_type(a, "scene_cut")}
    steps = []
    for frame in key_frame_indices(a):
        label = next((x.content for x in of_type(a, "key_frame") if x.frame_index == frame), "")
        shot = _SHOT.search(label)
        start, end = (int(shot.group(1)), int(shot.group(2))) if shot else (frame, frame)
        motion = next((m for m in motions if m.frame_index <= frame <= span_end(m)), None)
        words = [f"Watch frames {start}-{end}" if end > start else f"Look at frame {frame}"]
        if motion is not None:
            words.append(f"{motion.content} motion")
        if start in cuts:
            words.append("after a scene cut")
        shown = [t.content for t in texts if start <= t.frame_index <= end]
        if shown:
            words.append('the screen reads "' + " / ".join(shown)[:120] + '"')
        steps.append(TutorialStep(text=", ".join(words), frame=frame))
    return steps


class Tutorial(TaskFamily):
    name = "tutorial"
    lacks = (
        "too_few_steps",
        "fewer than two steps (GUI actions, or shots of a video: a one-shot video has one)",
    )
    domains = ("gui", "video")
    output_model = TutorialOutput
    covers_targets = True

    def anchor_targets(self, ctx: SynthesisContext) -> list[int]:
        """GUI: the anchored actions; video: the key frames (one per shot)."""
        a = ctx.anchors
        frames = (
            [x.frame_index for x in of_type(a, "gui_action")] if a.domain == "gui" else key_frame_indices(a)
        )
        return sorted({f for f in frames if f < a.num_frames})

    def prompt(self, ctx: SynthesisContext) -> list[ChatMessage]:
        rules = (
            "Each step's frame is a key frame or an anchor's frame; steps follow time order.",
            "One short imperative sentence per step, taken from the anchored actions or shots.",
        )
        goal = "Write a step-by-step tutorial of what is done in this window."
        relevant = (
            "gui_action",
            "key_frame",
            "ocr_text",
            "text_appears",
            "subtask",
            "app_transition",
            "url_transition",
            "scene_cut",
            "motion",
        )
        return family_prompt(self, ctx, goal, rules, relevant)

    def rule_output(self, ctx: SynthesisContext) -> TutorialOutput | None:
        a = ctx.anchors
        steps = gui_steps(a) if a.domain == "gui" else video_steps(a)
        steps = [s for s in steps if s.frame < a.num_frames][:MAX_STEPS]
        if len(steps) < 2:
            return None
        title = a.instruction or (
            f"How to follow the recorded {a.domain} session"
            if a.domain == "gui"
            else "What happens in this clip, shot by shot"
        )
        return TutorialOutput(title=title[:200], steps=steps)

    def window_schema(self, ctx: SynthesisContext) -> dict[str, Any] | None:
        """One step per anchored action (GUI) or key frame (video), in time order; the model writes the words."""
        rule = self.rule_output(ctx)
        if rule is None:
            return None
        # Text limits: about 1.1x the longest benchmark reference (title 86, step 108 chars).
        # A shot's on-screen text can make a step longer: room for the rules' own wording.
        steps = [
            obj({"text": text(min(300, max(120, len(s.text) + 20))), "frame": fixed(s.frame)})
            for s in rule.steps
        ]
        return obj({"title": text(100), "steps": seq(steps)})

    def trajectory(self, ctx: SynthesisContext, output: BaseModel) -> list[float]:
        out = checked(output, TutorialOutput)
        return [norm(s.frame, ctx.anchors.num_frames) for s in out.steps]
