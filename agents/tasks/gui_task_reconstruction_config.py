"""How the rule baseline cuts a GUI task into fragments and mixes in distractors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GuiTaskReconstructionConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_true_fragments: int = Field(
        default=6,
        ge=2,
        le=20,
        description="The window is cut into at most this many fragments (merged evenly).",
    )
    max_distractor_fragments: int = Field(
        default=2, ge=0, le=6, description="Fragments of other sessions mixed in as distractors."
    )
    max_description_chars: int = Field(
        default=160, gt=10, description="Fragment descriptions are cut to this."
    )
