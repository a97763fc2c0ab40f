"""Settings of a training export (`tailor export --format sft|preference --out FILE`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ExportConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset_dir: Path = Field(description="The Parquet example dataset written by ParquetSink.")
    out: Path = Field(description="JSONL file to write (replaced atomically).")
    format: Literal["sft", "preference"] = Field(
        description="'sft': chat messages per example; 'preference': TRL prompt/chosen/rejected per pair."
    )
    task_families: list[str] | None = Field(default=None, description="Export only these task families.")
    skip_frame_errors: bool = Field(
        default=True, description="Leave out examples with a key frame that could not be embedded."
    )
    include_images: bool = Field(
        default=False,
        description="Add an 'images' list to each record: local paths of the key frames (file:// URIs), "
        "other URIs as they are.",
    )
    pairs_file: Path | None = Field(
        default=None,
        description="Preference pairs, JSONL: Feedback records of kind 'preference', or objects with "
        "'chosen_id' and 'rejected_id'.",
    )
    max_pairs_file_bytes: int = Field(default=256 * 1024 * 1024, gt=0, description="Largest pairs file read.")
