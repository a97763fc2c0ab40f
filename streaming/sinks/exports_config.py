"""Settings of a training export (`tailor export --format sft|preference|grpo --from DIR --out FILE`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BASE_WEIGHTS = "base"  # the weights_versions value of examples without one (the base model, or rules)


class ExportConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset_dir: Path = Field(description="The Parquet example dataset written by ParquetSink.")
    out: Path = Field(description="JSONL file to write (replaced atomically).")
    format: Literal["sft", "preference", "grpo"] = Field(
        description="'sft': chat messages per example; 'preference': TRL prompt/chosen/rejected per pair; "
        "'grpo': one prompt per distinct (window, intent, task family) with its example ids."
    )
    task_families: list[str] | None = Field(default=None, description="Export only these task families.")
    intent_ids: list[str] | None = Field(
        default=None, description="Export only examples of these intents ('' selects examples of none)."
    )
    weights_versions: list[str] | None = Field(
        default=None,
        description=f"Export only examples written by these weights versions ('{BASE_WEIGHTS}': none recorded).",
    )
    created_after: datetime | None = Field(
        default=None, description="Export only examples created at or after this time (naive: UTC)."
    )
    created_before: datetime | None = Field(
        default=None, description="Export only examples created before this time (naive: UTC)."
    )
    min_reward: float | None = Field(
        default=None,
        description="Export only examples whose reward term `reward_term` is at least this "
        "(examples without the term are left out).",
    )
    reward_term: str = Field(default="r_total", min_length=1, description="The reward term min_reward reads.")
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

    @field_validator("created_after", "created_before")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # a time without a zone is read as UTC, like the dataset's date partitions, not the machine's zone
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _range(self) -> ExportConfig:
        if self.created_after and self.created_before and self.created_after >= self.created_before:
            raise ValueError(
                f"empty time range: created_after {self.created_after} is not before created_before "
                f"{self.created_before}"
            )
        return self
