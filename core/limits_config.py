"""Size caps applied to every input before it is decoded or trusted."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LimitsConfig(BaseModel):
    max_message_bytes: int = Field(
        default=16 * 1024 * 1024, gt=0, description="Largest raw Kafka message accepted, in bytes."
    )
    max_inline_bytes: int = Field(
        default=4 * 1024 * 1024,
        gt=0,
        description="Media larger than this is stored in the blob store and sent by URI (claim check).",
    )
    max_media_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Largest media item (inline, or a claim check's blob) accepted: the one cap that ingest "
        "checks and anchoring reads by, so what passes ingest is never too large for its window later.",
    )
    max_json_depth: int = Field(default=32, gt=0, description="Deepest JSON nesting accepted in a record.")
    max_video_seconds: float = Field(default=120.0, gt=0, description="Longest video segment accepted.")
    max_video_pixels: int = Field(
        default=3840 * 2160, gt=0, description="Largest declared frame size (width x height) accepted."
    )
    max_image_pixels: int = Field(
        default=4096 * 8192, gt=0, description="Largest screenshot or camera image (width x height)."
    )
    max_window_decoded_bytes: int = Field(
        default=512 * 1024 * 1024,
        gt=0,
        description="Decoded pixels (width x height x channels) a GUI or robot window keeps cached while its "
        "experts run; past it the least recently used images are dropped and decoded again if asked for, "
        "so a window of large screenshots costs at most this (plus the image being decoded), not one "
        "decoded image per step.",
    )
    max_vector_len: int = Field(default=256, gt=0, description="Longest state / action vector accepted.")
    max_text_chars: int = Field(default=2_000_000, gt=0, description="Longest text field (HTML included).")
    dlq_payload_bytes: int = Field(
        default=64 * 1024, gt=0, description="Original bytes kept in a dead-letter record (the rest is cut)."
    )
    decode_timeout_s: float = Field(
        default=20.0, gt=0, description="Time allowed to probe or decode one media item."
    )
