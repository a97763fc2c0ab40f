"""gui_task_reconstruction (gui): shuffled fragments (this session's and distractors') → the original task.

The question lists fragments labelled A, B, ...; the answer orders this window's fragments (leaving the
distractors out), places each on its frames, and restates the task.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agents.tasks.anchor_view import norm
from agents.tasks.base import (
    ChatMessage,
    Frame,
    FrameCite,
    RangeCite,
    SynthesisContext,
    TaskFamily,
    TaskOutput,
    TaskPart,
    Validator,
    checked,
)
from agents.tasks.base_config import PromptConfig
from agents.tasks.constrained import fixed, obj, seq, text
from agents.tasks.fragments import (
    AnswerIsPermutation,
    DistractorNotInAnswer,
    FragmentsContiguous,
    FragmentSetMatches,
    FragmentsNonOverlapping,
    PlacementsMatchFragments,
    PlannedFragment,
    plan_fragments,
)
from agents.tasks.gui_task_reconstruction_config import GuiTaskReconstructionConfig
from agents.tasks.prompting import family_prompt

LABEL = r"^[A-Z]$"


class Fragment(TaskPart):
    label: str = Field(pattern=LABEL, description="One capital letter.")
    description: str = Field(min_length=1, max_length=300, description="What happens in this fragment.")


class Placement(TaskPart):
    label: str = Field(pattern=LABEL, description="A fragment of this window.")
    start_frame: Frame = Field(description="First frame of the fragment in this window.")
    end_frame: Frame = Field(description="Last frame of the fragment (inclusive).")


class GuiTaskReconstructionOutput(TaskOutput):
    fragments: list[Fragment] = Field(
        min_length=2, max_length=26, description="The shuffled fragments (question)."
    )
    answer: list[Placement] = Field(
        min_length=1,
        max_length=26,
        description="This session's fragments in their original order, with frames.",
    )
    task: str = Field(min_length=1, max_length=500, description="The original task, in words.")

    def frame_cites(self) -> list[FrameCite]:
        return [
            FrameCite(f"answer[{i}].{name}", f)
            for i, p in enumerate(self.answer)
            for name, f in (("start_frame", p.start_frame), ("end_frame", p.end_frame))
        ]

    def range_cites(self) -> list[RangeCite]:
        return [
            RangeCite(f"answer[{i}]", p.start_frame, p.end_frame, single_ok=True)
            for i, p in enumerate(self.answer)
        ]

    def fragment_labels(self) -> list[str]:
        return [f.label for f in self.fragments]

    def placements(self) -> list[tuple[str, int, int]]:
        return [(p.label, p.start_frame, p.end_frame) for p in self.answer]

    def text_fields(self) -> list[tuple[str, str]]:
        return [
            *((f"fragments[{i}].description", f.description) for i, f in enumerate(self.fragments)),
            ("task", self.task),
        ]


class GuiTaskReconstruction(TaskFamily):
    name = "gui_task_reconstruction"
    lacks = ("too_few_actions", "no GUI actions to cut into fragments")
    domains = ("gui",)
    output_model = GuiTaskReconstructionOutput
    target_types = ("gui_action", "subtask")
    covers_targets = True

    def __init__(
        self, config: GuiTaskReconstructionConfig | None = None, prompt_config: PromptConfig | None = None
    ) -> None:
        super().__init__(prompt_config)
        self.config = config or GuiTaskReconstructionConfig()

    def plan(self, ctx: SynthesisContext) -> list[PlannedFragment]:
        return plan_fragments(ctx, self.config, self.name)

    def prompt(self, ctx: SynthesisContext) -> list[ChatMessage]:
        listed = "; ".join(f"{p.label}: {p.description}" for p in self.plan(ctx))
        rules = (
            "fragments: exactly the labelled fragments given, with their labels (you may reword descriptions).",
            "Some fragments come from other sessions: leave them out of the answer.",
            "answer: this window's fragments in original order; start_frame/end_frame from the anchors; "
            "together they cover every frame once, without gaps or overlaps.",
        )
        goal = f"Fragments: {listed}. Write the reconstruction example."
        return family_prompt(
            self, ctx, goal, rules, ("gui_action", "subtask", "app_transition", "url_transition")
        )

    def rule_output(self, ctx: SynthesisContext) -> GuiTaskReconstructionOutput | None:
        plan = self.plan(ctx)
        if not plan:
            return None
        true = sorted((p for p in plan if p.true), key=lambda p: p.start)
        task = ctx.anchors.instruction or "; then ".join(p.description for p in true)
        return GuiTaskReconstructionOutput(
            fragments=[Fragment(label=p.label, description=p.description) for p in plan],
            answer=[Placement(label=p.label, start_frame=p.start, end_frame=p.end) for p in true],
            task=task[:500],
        )

    def window_schema(self, ctx: SynthesisContext) -> dict[str, Any] | None:
        """The planned fragments under their labels (the model may reword them), the answer as planned (this
        window's fragments in order, on their frames), and the task in the model's words."""
        rule = self.rule_output(ctx)
        if rule is None:
            return None
        fragments = [
            obj({"label": fixed(f.label), "description": text(max(100, len(f.description) + 20))})
            for f in rule.fragments
        ]
        answer = [p.model_dump(mode="json") for p in rule.answer]
        # Task: about 1.9x the longest benchmark reference (86 chars); instructions can be long.
        return obj({"fragments": seq(fragments), "answer": fixed(answer), "task": text(160)})

    def trajectory(self, ctx: SynthesisContext, output: BaseModel) -> list[float]:
        out = checked(output, GuiTaskReconstructionOutput)
        n = ctx.anchors.num_frames
        return [norm(f, n) for p in out.answer for f in (p.start_frame, p.end_frame)]

    def validators(self) -> list[Validator]:
        return [
            *super().validators(),
            FragmentSetMatches(self.plan),
            AnswerIsPermutation(self.plan),
            DistractorNotInAnswer(self.plan),
            PlacementsMatchFragments(self.plan),
            FragmentsNonOverlapping(),
            FragmentsContiguous(),
        ]
