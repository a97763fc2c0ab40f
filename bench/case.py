"""One benchmark case: a raw window (source + selection), its AnchorSet, an intent, a task family and a
reference output derived from the recording's own annotations (not from Tailor's rule output)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bench.sources import SourceRef
from bench.split import recording_id
from core.records import AnchorSet

SCHEMA_VERSION = 1
Split = Literal["dev", "heldout"]
Domain = Literal["video", "gui", "robot"]
CASE_ID = r"^[a-z0-9][a-z0-9_.-]{0,120}$"


class WindowSelection(BaseModel):
    """Which items of which recording form the window (items: robot steps, GUI steps, video segments)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: SourceRef = Field(description="The recording.")
    key: str = Field(min_length=1, max_length=200, description="Episode, session or stream key inside it.")
    first: int = Field(ge=0, description="First item (step or segment) of the key in the window.")
    count: int = Field(gt=0, le=10_000, description="Items in the window.")
    segment_s: float | None = Field(default=None, gt=0, description="Video: the replay segment length used.")
    start_s: float = Field(ge=0, description="Stream time of the window's first item, seconds.")
    end_s: float = Field(ge=0, description="Stream time of the window's end, seconds.")


class BenchCase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    case_id: str = Field(pattern=CASE_ID, description="Stable id; also the file name.")
    split: Split
    domain: Domain
    family: str = Field(description="Task family (target schema), see agents.tasks.")
    intent: str = Field(
        min_length=1, max_length=1000, description="The user's request, passed into the prompt."
    )
    window: WindowSelection
    anchors: AnchorSet = Field(
        description="What the anchor stage makes of the window (stored: scoring does "
        "not re-extract; key frames are URIs plus sha256, no bytes)."
    )
    distractors: list[AnchorSet] = Field(
        default_factory=list, description="Other sessions' windows (gui_task_reconstruction)."
    )
    reference: dict[str, Any] = Field(description="The reference output in the family's schema.")
    derivation: str = Field(
        min_length=1,
        max_length=2000,
        description="Which annotations the reference comes from, for this case.",
    )
    reference_violations: list[str] = Field(
        default_factory=list,
        description="Tailor's validator reason labels on the reference (diagnostic: where the anchors and "
        "the annotations disagree; not used in scoring).",
    )

    @property
    def recording_id(self) -> str:
        """The source recording the window comes from (`root:path#key`): the unit of the split."""
        return recording_id(self.window.source.root, self.window.source.path, self.window.key)


class CaseSetVersion(BaseModel):
    """`version.json` of a case set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    name: str = Field(description="Case set name, e.g. v1.")
    case_count: int = Field(ge=0)
    splits: dict[str, int] = Field(description="Cases per split.")
    by_domain: dict[str, dict[str, int]] = Field(description="Cases per split and domain.")
    by_family: dict[str, int] = Field(description="Cases per task family.")
    recordings: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Source recordings (`root:path#key`) per split: the unit of the split.",
    )
    builder: str = Field(description="The command that builds the set.")


def case_fields(case: BenchCase) -> dict[str, Any]:
    """The case as JSON-ready data (the on-disk form)."""
    return case.model_dump(mode="json")
