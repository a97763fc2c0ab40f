"""Settings of the camera key-frame expert."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class KeyFrameConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    cameras: list[str] = Field(
        default_factory=list,
        description="Preferred camera names, best first; cameras not listed follow in name order.",
    )
    blank_std: float = Field(
        default=2.0,
        ge=0,
        description="A frame whose grayscale standard deviation is at most this is blank (an empty camera "
        "slot) and another camera is used.",
    )
    max_key_frames: int = Field(
        default=16,
        ge=2,
        description="Most key frames per window: first and last always, events evenly thinned.",
    )
