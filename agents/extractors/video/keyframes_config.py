"""Settings of the key-frame expert."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class KeyFrameConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    median_samples: int = Field(
        default=15,
        gt=0,
        description="Frames (evenly spaced) whose per-pixel median is the shot's typical look.",
    )
    edge_margin_s: float = Field(
        default=0.2, ge=0, description="Frames this close to a cut are not chosen (transition blur)."
    )
    prefer_kept_frames: bool = Field(
        default=True,
        description="Choose among the full-resolution frames the decoder kept, when a shot has any: "
        "their RGB comes without a re-decode.",
    )
