"""Task families of stage 2: what an example looks like, how to prompt for it, how to check it.

A `TaskFamily` owns one output schema (a strict pydantic model), its prompt, its rule-only baseline
filled straight from the window's anchors, the trajectory of frames an output cites (for R_anchor)
and the list of `Validator`s that reject ungrounded or malformed outputs. The base class owns the
plumbing (schema export, parsing with reason labels, running validators); subclasses own the decisions.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.tasks.base_config import PromptConfig
from agents.tasks.text_checks_config import TextChecksConfig
from core.errors import TailorError
from core.records import AnchorSet, FrameRef
from core.records.base import too_deep

if TYPE_CHECKING:
    from agents.tasks.catalog_config import TasksConfig

log = logging.getLogger(__name__)

Frame = Annotated[int, Field(ge=0, le=10_000_000, description="Window-relative frame (step) index.")]
FrameRange = tuple[Frame, Frame]


@dataclass(frozen=True)
class TaskSpec:
    """What an intent asks for (the intent parser produces these)."""

    task_family: str
    intent_id: str | None = None
    domain: str | None = None  # video|gui|robot filter
    budget: int | None = None
    text: str = ""  # the user's words, passed into prompts


@dataclass(frozen=True)
class SynthesisContext:
    anchors: AnchorSet
    spec: TaskSpec
    distractors: tuple[AnchorSet, ...] = ()  # other sessions' windows (gui_task_reconstruction)


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Violation:
    reason: str  # short label, e.g. frame_out_of_window
    detail: str


class ParseError(TailorError, ValueError):
    """Model text that is not an output of the family; `reason` is invalid_json, schema_mismatch,
    output_too_large or json_too_deep."""


@dataclass(frozen=True)
class FrameCite:
    """One frame index an output cites, with the field it sits in (for violation details)."""

    field: str
    frame: int


@dataclass(frozen=True)
class RangeCite:
    """One [start, end] range (inclusive) an output cites; `single_ok` allows start == end."""

    field: str
    start: int
    end: int
    single_ok: bool = False


@dataclass(frozen=True)
class ActionCite:
    """One GUI action an output claims happened at `frame`."""

    field: str
    frame: int
    type: str
    point: tuple[float, float] | None = None
    target: str | None = None
    bbox: tuple[float, float, float, float] | None = None  # x, y, w, h
    text: str | None = None


class TaskPart(BaseModel):
    """Base of nested parts of an output (same strictness as the output)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class TaskOutput(BaseModel):
    """Base of every family's output model: strict (no coercion, no extra keys, no NaN)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    def frame_cites(self) -> list[FrameCite]:
        """Every window-relative frame index in the output (range ends included)."""
        return []

    def range_cites(self) -> list[RangeCite]:
        return []

    def grounded_cites(self) -> list[FrameCite]:
        """Frames that must sit on an anchor (its frame, span end or evidence) or a key frame."""
        return []

    def frame_sequences(self) -> list[list[FrameCite]]:
        """Sequences of frames that must not decrease in the order given (steps, actions, plans)."""
        return []

    def action_cites(self) -> list[ActionCite]:
        return []

    def reasoning(self) -> str:
        """The text whose length R_eff measures: the chain of thought, else the free text."""
        return ""

    def text_fields(self) -> list[tuple[str, str]]:
        """(field path, text) of every free-text field the text validators check (agents.tasks.text_checks);
        text that is checked against an anchor already (action targets, typed text) is left out."""
        return []


class Validator(ABC):
    """One check, one job: the violations of one rule (empty when the output passes)."""

    @abstractmethod
    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]: ...


class TaskFamily(ABC):
    name: ClassVar[str]
    domains: ClassVar[tuple[str, ...]]
    output_model: ClassVar[type[TaskOutput]]
    # R_anchor's facts: anchor types whose frames (and span ends) an output should cite, and whether an
    # output should also cover them all (a tutorial or an action list) rather than pick some (a question).
    target_types: ClassVar[tuple[str, ...]] = ()
    covers_targets: ClassVar[bool] = False
    # why a window gives this family nothing (rule_output is None): a reason label and the words for it
    lacks: ClassVar[tuple[str, str]] = (
        "not_enough_anchors",
        "the window has too few anchors for this family",
    )

    def __init__(self, prompt_config: PromptConfig | None = None) -> None:
        self.prompt_config = prompt_config or PromptConfig()
        self.text_checks = TextChecksConfig()  # thresholds of the text validators and the sink's reward floor

    def json_schema(self) -> dict[str, Any]:
        """The output model's JSON schema (usable as vLLM `response_format` json_schema)."""
        return self.output_model.model_json_schema()

    def response_format(self) -> dict[str, Any]:
        """An OpenAI-style `response_format` asking for this family's schema."""
        return {
            "type": "json_schema",
            "json_schema": {"name": self.name, "schema": self.json_schema(), "strict": True},
        }

    def window_schema(self, ctx: SynthesisContext) -> dict[str, Any] | None:
        """This family's schema narrowed to the window's anchors (see `agents.tasks.constrained`); None
        when the window gives the family nothing to build on (the job is not worth sending)."""
        return None

    def decoding_schema(self, ctx: SynthesisContext) -> dict[str, Any]:
        """What constrained decoding enforces for this job: the window schema, else the static one."""
        return self.window_schema(ctx) or self.json_schema()

    def applies(self, anchors: AnchorSet) -> bool:
        """True when the window is of a domain this family serves and has enough anchors for it."""
        if anchors.domain not in self.domains:
            return False
        return self.rule_output(SynthesisContext(anchors, TaskSpec(self.name))) is not None

    @abstractmethod
    def prompt(self, ctx: SynthesisContext) -> list[ChatMessage]:
        """System + user messages: anchors as hard constraints, frame range, schema, intent text."""

    def chat_messages(self, ctx: SynthesisContext) -> list[dict[str, Any]]:
        """`prompt(ctx)` as the role/content dicts chat templates, OpenAI requests and TRL rows take."""
        return [{"role": m.role, "content": m.content} for m in self.prompt(ctx)]

    @abstractmethod
    def rule_output(self, ctx: SynthesisContext) -> TaskOutput | None:
        """The heuristic-rules baseline filled straight from the anchors (None: not enough anchors)."""

    @abstractmethod
    def trajectory(self, ctx: SynthesisContext, output: BaseModel) -> list[float]:
        """Normalised positions in [0, 1] of the frames the output cites, in order (for R_anchor)."""

    def validators(self) -> list[Validator]:
        from agents.tasks.text_checks import text_validators
        from agents.tasks.validators import FramesAnchored, FramesInWindow, FramesOrdered, RangesPositive

        return [
            FramesInWindow(),
            RangesPositive(),
            FramesAnchored(),
            FramesOrdered(),
            *text_validators(self, self.text_checks),
        ]

    def parse(self, text: str) -> TaskOutput:
        """JSON text → output model; ParseError(reason, detail) when it is not one."""
        cfg = self.prompt_config
        body = strip_fence(text)
        if len(body) > cfg.max_output_chars:
            raise ParseError("output_too_large", f"{len(body)} characters > {cfg.max_output_chars}")
        if too_deep(body.encode("utf-8", "replace"), cfg.max_output_depth):
            raise ParseError("json_too_deep", f"nesting deeper than {cfg.max_output_depth}")
        try:
            return self.output_model.model_validate_json(body)
        except ValidationError as exc:
            raise _parse_error(self.name, exc) from None

    def validate(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        """Violations of every validator, in validator order (empty: the output is accepted)."""
        found: list[Violation] = []
        for validator in self.validators():
            found.extend(validator.check(ctx, output))
        if found:
            log.debug("%s on %s: %s", self.name, ctx.anchors.window_id, sorted({v.reason for v in found}))
        return found

    def cited_anchor_ids(self, ctx: SynthesisContext, output: BaseModel) -> list[str]:
        """Ids of the anchors whose frame, span end or evidence the output cites (for Example.anchor_ids)."""
        frames = {c.frame for c in checked(output, self.output_model).frame_cites()}
        return [
            a.anchor_id
            for a in ctx.anchors.anchors
            if frames
            & {
                a.frame_index,
                a.end_frame_index if a.end_frame_index is not None else a.frame_index,
                *a.evidence_frames,
            }
        ]

    def cited_key_frames(self, ctx: SynthesisContext, output: BaseModel) -> list[FrameRef]:
        """The window's stored key frames that the output cites (for Example.frames)."""
        frames = {c.frame for c in checked(output, self.output_model).frame_cites()}
        return [kf for kf in ctx.anchors.key_frames if kf.frame_index in frames]

    def anchor_targets(self, ctx: SynthesisContext) -> list[int]:
        """Frames of the window's facts this family's outputs should sit on (empty: no target here)."""
        n = ctx.anchors.num_frames
        frames: set[int] = set()
        for a in ctx.anchors.anchors:
            if a.type in self.target_types:
                frames.add(a.frame_index)
                if a.end_frame_index is not None:
                    frames.add(a.end_frame_index)
        return sorted(f for f in frames if 0 <= f < n)

    def cited_frames(self, output: BaseModel) -> list[int]:
        """The frames R_anchor compares with the targets: the grounded cites, else every cited frame."""
        out = checked(output, self.output_model)
        return [c.frame for c in (out.grounded_cites() or out.frame_cites())]

    def reference_trajectory(self, ctx: SynthesisContext) -> list[float] | None:
        """The anchor-derived reference: the trajectory of the rule output (None if there is none)."""
        ref = self.rule_output(ctx)
        return None if ref is None else self.trajectory(ctx, ref)


OutputT = TypeVar("OutputT", bound=TaskOutput)


def checked(output: BaseModel, model: type[OutputT]) -> OutputT:
    """`output` as `model` (TypeError for another family's output)."""
    if not isinstance(output, model):
        raise TypeError(f"expected {model.__name__}, got {type(output).__name__}")
    return output


def strip_fence(text: str) -> str:
    """The text without surrounding whitespace and one surrounding markdown code fence, if any."""
    body = text.strip()
    if body.startswith("```") and body.endswith("```") and len(body) >= 6:
        body = body[3:-3]
        first_newline = body.find("\n")
        if first_newline >= 0 and body[:first_newline].strip().isalpha():  # ```json
            body = body[first_newline + 1 :]
        body = body.strip()
    return body


def _parse_error(name: str, exc: ValidationError) -> ParseError:
    errors = exc.errors()
    for e in errors:
        if e.get("type") == "json_invalid":
            return ParseError("invalid_json", f"{name}: {e.get('msg')}"[:300])
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "<root>"
    return ParseError("schema_mismatch", f"{name}.{where}: {first.get('msg')}"[:500])


def registry(config: TasksConfig | None = None) -> dict[str, TaskFamily]:
    """Every task family by name (`config`: an optional `TasksConfig`)."""
    from agents.tasks.catalog import families

    return {family.name: family for family in families(config)}
