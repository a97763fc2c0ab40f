"""Window policy of the extraction stage: size, grace, gap and late-event handling."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WindowsConfig(BaseModel):
    window_max_items: int = Field(
        default=200, gt=0, description="Steps or segments per window; a full window closes (tumbling by count)."
    )
    window_video_seconds: float = Field(
        default=10.0, gt=0, description="Video windows close once their segments span this many seconds."
    )
    window_gap_s: float = Field(
        default=5.0, gt=0, description="A key idle for this long (wall clock) closes its open window (session gap)."
    )
    window_grace_s: float = Field(
        default=2.0, ge=0,
        description="After a final step (is_last) or a gap, wait this long for stragglers before closing.",
    )
    window_sweep_interval_s: float = Field(default=1.0, gt=0, description="How often idle windows are checked.")
    window_close_concurrency: int = Field(
        default=2, gt=0, description="Windows whose anchors are extracted at once; more closes make the stream wait."
    )
    window_extract_timeout_s: float = Field(
        default=120.0, gt=0, description="Time allowed to extract anchors from one closed window."
    )
