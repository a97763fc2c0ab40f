"""Settings of `tailor ui` (alias `tailor audit`): where the read-only audit page listens and how much it shows."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AuditConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str = Field(
        default="127.0.0.1", description="Address to bind; loopback by default (the page has no login)."
    )
    port: int = Field(default=8765, ge=0, le=65535, description="Port to bind (0: any free port).")
    page_rows: int = Field(default=500, gt=0, description="Most examples listed on one page.")
    max_frame_bytes: int = Field(
        default=16 * 1024 * 1024, gt=0, description="Largest key frame served from the frame store, in bytes."
    )
    max_frame_pixels: int = Field(
        default=4096 * 8192, gt=0, description="Largest key frame served from the frame store, in pixels."
    )
