"""Settings of the anchor stage (frame store, timeouts, OCR)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AnchoringConfig(BaseModel):
    frame_store_uri: str | None = Field(
        default=None, description="Content-addressed frame store (fsspec URI); default data_dir/frames."
    )
    ocr_enabled: bool = Field(
        default=True, description="Run OCR on GUI targets and screen-recording key frames."
    )
    max_key_frames: int = Field(default=16, gt=0, description="Most key frames stored per window.")
