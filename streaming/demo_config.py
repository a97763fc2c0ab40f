"""Settings of `tailor demo` (the main job on the embedded default)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class DemoConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    shared_dir: Path = Field(default=Path("../shared"), description="Folder with the bundled real samples.")
    rate: float = Field(default=0.0, ge=0, description="Replay speed-up; 0 publishes as fast as possible.")
    wait_seconds: float = Field(default=180.0, gt=0, description="Longest wait for the worker to catch up.")
    video_limit: int = Field(default=1, ge=0, description="How many real videos to replay.")
