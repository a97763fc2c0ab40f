"""Settings of one `tailor replay` run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ReplayConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    paths: list[Path] = Field(description="Files or folders to replay.")
    kind: Literal["video", "gui", "robot"] | None = Field(
        default=None, description="Input kind; None detects it."
    )
    rate: float = Field(default=1.0, ge=0, description="Speed-up of the original timing; 0 = no pacing.")
    loop: bool = Field(default=False, description="Repeat until stopped (keys get a -rN suffix per round).")
    max_rounds: int | None = Field(default=None, gt=0, description="Stop looping after this many rounds.")
    first_round: int = Field(
        default=0,
        ge=0,
        description="Number of the first round; above 0 its keys get the -rN suffix too, so replaying the same "
        "files again (the demo's second pass) opens new windows instead of sending late events.",
    )
    keys: tuple[str, ...] = Field(
        default=(), description="Replay only the recordings with these stream keys (empty: every recording)."
    )
    segment_seconds: float = Field(default=2.0, gt=0, description="Video segment length in seconds.")
    mapping: Path | None = Field(
        default=None,
        description="TOML file, or a preset name (`bridge`, `umi`), saying which ROS bag topics, RLDS "
        "features or LeRobot columns are cameras, state, action, instruction (streaming.replay.mapping); "
        "unset: each reader's defaults.",
    )
    progress: bool = Field(default=True, description="Show a progress bar.")
    licence: str | None = Field(
        default=None,
        max_length=200,
        description="Licence of every replayed recording; unset: the known recordings' table "
        "(streaming.replay.licences_config), else none.",
    )
