"""Settings of blob retention: how long spilled media and key frames are kept, and the worker's sweep."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RetentionConfig(BaseModel):
    media_retention_s: float = Field(
        default=7 * 24 * 3600.0,
        ge=0,
        description="Spilled and claim-checked raw media (the blob store) older than this many seconds since "
        "it was last written is deleted by the worker's sweep. 0: kept for ever. Media must outlive the "
        "longest window (window_gap_s, window_video_seconds), the late grace (window_grace_s) and the "
        "window extraction, and also every replay of the raw topics whose records cite it (a consumer group "
        "reset, a crash's redelivery): the default, 7 days, is Kafka's default topic retention, so "
        "media lives as long as the records that point at it. Raise it with the raw topics' retention.",
    )
    frame_retention_s: float = Field(
        default=30 * 24 * 3600.0,
        ge=0,
        description="Key frames (the frame store) older than this many seconds since they were last "
        "written are deleted by the worker's sweep. 0: kept for ever. Key frames are read after their "
        "window closed: by synthesis, by `tailor reprocess` (as long as the anchors topic keeps the "
        "window), by the trainer's vision rounds and by `tailor ui`; Parquet rows embed their images "
        "(embed_frames) and keep them. The default, 30 days, outlives the anchors topic's default 7-day "
        "retention with room for a trainer that falls behind; with embed_frames off, rows only cite "
        "the frames: keep them as long as the datasets are used (or 0).",
    )
    retention_sweep_interval_s: float = Field(
        default=600.0,
        gt=0,
        description="How often a worker (`tailor up`) deletes expired media and key frames (off the event "
        "loop, at most retention_max_deletions files per store per sweep).",
    )
    retention_max_deletions: int = Field(
        default=10_000,
        gt=0,
        description="Most files one sweep deletes per store; the rest wait for the next sweep, so a "
        "backlog (retention just lowered, a long stop) is worked off in bounded steps.",
    )
