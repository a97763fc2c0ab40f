"""Settings of the bounded video decoder (threads, analysis-frame size, decompression-bomb guards)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DecodeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    threads: int = Field(
        default=0, ge=0, le=64, description="Decoder threads; 0 lets FFmpeg pick (one per core)."
    )
    thread_type: str = Field(
        default="AUTO", pattern="^(AUTO|FRAME|SLICE|NONE)$", description="FFmpeg threading mode."
    )
    analysis_width: int = Field(
        default=160,
        ge=8,
        le=4096,
        description="Analysis frames are the luma plane subsampled by one integer stride so that they are "
        "about this many pixels wide (1280 px source: every 8th pixel).",
    )
    keyframes_only: bool = Field(
        default=False, description="Decode codec key frames only (skip_frame=NONKEY): cheap thumbnails."
    )
    max_pixels: int = Field(
        default=3840 * 2160, gt=0, description="Largest declared or decoded frame size (width x height)."
    )
    max_seconds: float = Field(default=120.0, gt=0, description="Longest declared media duration accepted.")
    max_frames: int = Field(
        default=7200, gt=0, description="Most frames decoded from one item, whatever its metadata says."
    )
    frame_slack: float = Field(
        default=1.5,
        ge=1.0,
        description="Decoding stops (too_many_frames) past declared duration x fps x this factor + margin.",
    )
    frame_margin: int = Field(default=30, ge=0, description="Frames allowed beyond duration x fps x slack.")
    timeout_s: float = Field(default=20.0, gt=0, description="Wall-clock time allowed to decode one item.")
    max_decode_errors: int = Field(
        default=3, ge=0, description="Packets that may fail to decode before the item is corrupt_media."
    )
    min_coverage: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="Decoded frames must reach this fraction of the declared duration, else the item is "
        "corrupt_media (truncated).",
    )
    retain_max_frames: int = Field(
        default=16,
        ge=0,
        description="Full-resolution frames kept in memory, evenly spaced, as cheap key-frame candidates.",
    )
    retain_max_bytes: int = Field(
        default=128 * 1024 * 1024, ge=0, description="Memory cap of the kept full-resolution frames."
    )
    retain_codec_keyframes: bool = Field(
        default=True, description="Also keep codec key frames (encoders put them at shot changes)."
    )
