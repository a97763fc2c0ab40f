"""Window policy of the extraction stage: size, grace, gap and late-event handling."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WindowsConfig(BaseModel):
    window_max_items: int = Field(
        default=200,
        gt=0,
        description="Steps or segments per window; a full window closes (tumbling by count).",
    )
    window_video_seconds: float = Field(
        default=10.0, gt=0, description="Video windows close once their segments span this many seconds."
    )
    window_max_key_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="State bytes of one key's open window (its stored step entries, e.g. GUI html and "
        "accessibility text); a window reaching it closes like a full one (reason `bytes`) and the next "
        "item opens a new one, so nothing is lost (the last item may take it past by one message).",
    )
    window_max_state_bytes: int = Field(
        default=1024 * 1024 * 1024,
        gt=0,
        description="State bytes of all open windows of the worker together (what the changelog restores at "
        "a restart); an item that would take the total past it is dead-lettered with reason "
        "`window_state_full` until closes free room.",
    )
    window_gap_s: float = Field(
        default=5.0,
        gt=0,
        description="A key idle for this long (wall clock) closes its open window (session gap).",
    )
    window_grace_s: float = Field(
        default=2.0,
        ge=0,
        description="After a final step (is_last) or a gap, wait this long for stragglers before closing.",
    )
    window_sweep_interval_s: float = Field(
        default=1.0, gt=0, description="How often idle windows are checked."
    )
    window_close_concurrency: int = Field(
        default=2,
        gt=0,
        description="Windows whose anchors are extracted at once; more closes make the stream wait.",
    )
    window_finished_key_ttl_s: float = Field(
        default=600.0,
        gt=0,
        description="A key with no open window is forgotten (its header deleted from state and changelog) "
        "this long after its last window closed; an item arriving later for it starts the key "
        "afresh (window numbers from 0, not detected as late; the sink keeps the earlier window's rows).",
    )
    window_max_finished_keys: int = Field(
        default=10_000,
        gt=0,
        description="Most finished keys (no open window) remembered per domain for late-event detection; "
        "the oldest are forgotten first, so state stays bounded however many keys are seen.",
    )
    window_extract_timeout_s: float = Field(
        default=120.0, gt=0, description="Time allowed to extract anchors from one closed window."
    )
