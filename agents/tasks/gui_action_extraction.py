"""gui_action_extraction (gui): the window's actions in order, with type and point or target text / box."""

from __future__ import annotations

from typing import Any, Literal, cast, get_args

from pydantic import BaseModel, Field

from agents.tasks.anchor_view import norm, of_type, parse_action
from agents.tasks.base import (
    ActionCite,
    ChatMessage,
    Frame,
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
from agents.tasks.base_config import PromptConfig
from agents.tasks.constrained import fixed, obj, seq
from agents.tasks.gui_action_extraction_config import GuiActionExtractionConfig
from agents.tasks.prompting import family_prompt
from agents.tasks.validators import ActionsAnchored, ActionsComplete, FrameInRange

ActionType = Literal[
    "click",
    "type",
    "select",
    "scroll",
    "swipe",
    "hover",
    "key",
    "home",
    "back",
    "enter",
    "done",
    "wait",
    "other",
]
MAX_ACTIONS = 64


class Box(TaskPart):
    x: float = Field(description="Left, pixels.")
    y: float = Field(description="Top, pixels.")
    w: float = Field(ge=0, description="Width, pixels.")
    h: float = Field(ge=0, description="Height, pixels.")


class ExtractedAction(TaskPart):
    frame: Frame = Field(description="The step (screen) the action is taken on.")
    type: ActionType
    point: tuple[float, float] | None = Field(default=None, description="(x, y) in screenshot pixels.")
    target: str | None = Field(
        default=None, max_length=300, description="Text or label of the element acted on."
    )
    bbox: Box | None = Field(default=None, description="Box of the element acted on.")
    text: str | None = Field(default=None, max_length=300, description="Typed or selected text.")


class GuiActionExtractionOutput(TaskOutput):
    input_range: FrameRange = Field(
        description="[start, end] steps whose actions are extracted (all of them)."
    )
    actions: list[ExtractedAction] = Field(
        min_length=1, max_length=MAX_ACTIONS, description="Actions in order."
    )

    def frame_cites(self) -> list[FrameCite]:
        return [FrameCite("input_range", f) for f in self.input_range] + self.grounded_cites()

    def range_cites(self) -> list[RangeCite]:
        return [RangeCite("input_range", *self.input_range)]

    def grounded_cites(self) -> list[FrameCite]:
        return [FrameCite(f"actions[{i}].frame", x.frame) for i, x in enumerate(self.actions)]

    def frame_sequences(self) -> list[list[FrameCite]]:
        return [self.grounded_cites()]

    def action_cites(self) -> list[ActionCite]:
        return [
            ActionCite(
                f"actions[{i}]",
                x.frame,
                x.type,
                x.point,
                x.target,
                (x.bbox.x, x.bbox.y, x.bbox.w, x.bbox.h) if x.bbox is not None else None,
                x.text,
            )
            for i, x in enumerate(self.actions)
        ]


class GuiActionExtraction(TaskFamily):
    name = "gui_action_extraction"
    lacks = ("no_actions", "no GUI action with a frame before the window ends")
    domains = ("gui",)
    output_model = GuiActionExtractionOutput
    target_types = ("gui_action",)
    covers_targets = True

    def __init__(
        self, config: GuiActionExtractionConfig | None = None, prompt_config: PromptConfig | None = None
    ) -> None:
        super().__init__(prompt_config)
        self.config = config or GuiActionExtractionConfig()

    def prompt(self, ctx: SynthesisContext) -> list[ChatMessage]:
        rules = (
            "input_range has end > start; list every gui_action anchor inside it once, in frame order; "
            "frame = the anchor's frame.",
            "type is the first word of the anchor content; point = its pt; target / text = its target= / text=; "
            "bbox = its box. Use null where the anchor has none.",
        )
        goal = "Extract the ordered GUI actions of this window."
        return family_prompt(
            self, ctx, goal, rules, ("gui_action", "subtask", "app_transition", "url_transition")
        )

    def rule_output(self, ctx: SynthesisContext) -> GuiActionExtractionOutput | None:
        """The first `max_actions` actions of the window, over the steps up to the next action."""
        anchors = of_type(ctx.anchors, "gui_action")
        last = ctx.anchors.num_frames - 1
        chosen = anchors[: self.config.max_actions]
        end = anchors[len(chosen)].frame_index - 1 if len(anchors) > len(chosen) else last
        if not chosen or end <= 0 or end > last:
            return None
        actions = []
        for a in chosen:
            parsed = parse_action(a.content)
            kind = cast(ActionType, parsed.type if parsed.type in get_args(ActionType) else "other")
            point = (round(a.point[0], 1), round(a.point[1], 1)) if a.point is not None else None
            box = Box(x=a.bbox.x, y=a.bbox.y, w=a.bbox.w, h=a.bbox.h) if a.bbox is not None else None
            actions.append(
                ExtractedAction(
                    frame=a.frame_index,
                    type=kind,
                    point=point,
                    target=parsed.target,
                    bbox=box,
                    text=parsed.text,
                )
            )
        return GuiActionExtractionOutput(input_range=(0, end), actions=actions)

    def window_schema(self, ctx: SynthesisContext) -> dict[str, Any] | None:
        """Every anchored action of the range, in order, exactly as anchored (the validators accept nothing
        else: ActionsAnchored matches each field, ActionsComplete asks for all of them)."""
        rule = self.rule_output(ctx)
        if rule is None:
            return None
        actions = [fixed(a.model_dump(mode="json")) for a in rule.actions]
        return obj({"input_range": fixed(list(rule.input_range)), "actions": seq(actions)})

    def trajectory(self, ctx: SynthesisContext, output: BaseModel) -> list[float]:
        out = checked(output, GuiActionExtractionOutput)
        n = ctx.anchors.num_frames
        return [
            norm(out.input_range[0], n),
            *(norm(x.frame, n) for x in out.actions),
            norm(out.input_range[1], n),
        ]

    def validators(self) -> list[Validator]:
        return [
            *super().validators(),
            ActionsAnchored(self.config.point_tolerance_px, self.config.min_box_iou),
            ActionsComplete("input_range"),
            FrameInRange("actions.frame", "input_range", "action_outside_input"),
        ]
