"""Settings of the Parquet example sink: where the dataset lives, file rotation, frame embedding."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ParquetSinkConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    root: Path = Field(description="Dataset folder (local filesystem); created on first write.")
    writer_id: str = Field(
        pattern=r"^[A-Za-z0-9_\-]{1,64}$",
        description="Unique per live sink (worker id, plus a suffix when one process runs several sinks); "
        "part files are named part-<writer_id>-<seq>.parquet.",
    )
    embed_frames: bool = Field(
        default=True,
        description="Embed key frames as image bytes (datasets Image structs); False keeps uri + sha256.",
    )
    frame_error_policy: Literal["flag", "drop_example"] = Field(
        default="flag",
        description="A frame that cannot be embedded (hash mismatch, missing, not an image): 'flag' "
        "writes the row with that frame referenced only and its reason in frame_refs.error; "
        "'drop_example' skips the row.",
    )
    max_frame_bytes: int = Field(
        default=16 * 1024 * 1024, gt=0, description="Largest frame embedded, in bytes."
    )
    max_frame_pixels: int = Field(
        default=4096 * 8192, gt=0, description="Largest frame embedded, in pixels (width x height)."
    )
    max_file_bytes: int = Field(
        default=128 * 1024 * 1024,
        gt=0,
        description="A partition's buffer is written as a part file once its estimated size reaches this.",
    )
    max_file_age_s: float = Field(
        default=300.0,
        gt=0,
        description="maybe_rotate() writes a partition's buffer once its oldest row has waited this long.",
    )
    row_group_rows: int = Field(default=256, gt=0, description="Rows per Parquet row group.")
    compression: Literal["zstd", "snappy", "gzip", "none"] = Field(
        default="zstd", description="Parquet compression codec (frames are already-compressed images)."
    )
    rescan_on_flush: bool = Field(
        default=True,
        description="Before each flush, read the ids of part files other writers published since the "
        "last scan and drop buffered rows they already hold (replays after a consumer-group rebalance).",
    )
