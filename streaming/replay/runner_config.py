"""Settings of one `tailor replay` run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ReplayConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    paths: list[Path] = Field(description="Files or folders to replay.")
    kind: Literal["video", "gui", "robot"] | None = Field(default=None, description="Input kind; None detects it.")
    rate: float = Field(default=1.0, ge=0, description="Speed-up of the original timing; 0 = no pacing.")
    loop: bool = Field(default=False, description="Repeat until stopped (keys get a -rN suffix per round).")
    max_rounds: int | None = Field(default=None, gt=0, description="Stop looping after this many rounds.")
    segment_seconds: float = Field(default=2.0, gt=0, description="Video segment length in seconds.")
    progress: bool = Field(default=True, description="Show a progress bar.")
