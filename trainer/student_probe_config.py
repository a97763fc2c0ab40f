"""Settings of the downstream student probe (train a student on a batch, measure it on other recordings)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StudentProbeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_size: int = Field(
        default=4,
        gt=0,
        le=64,
        description="Examples per measured batch; each batch's metric is credited evenly to its members, so "
        "smaller batches attribute more finely (1 = one student run per example) at more cost.",
    )
    max_batches: int = Field(default=8, gt=0, le=256, description="Most batches measured per call.")
    max_heldout: int = Field(
        default=8, gt=0, le=256, description="Most held-out items the student is scored on."
    )
    last_layers: int = Field(
        default=2,
        gt=0,
        le=64,
        description="The student trains its last N decoder layers and final norm (the rest stays frozen): cheap "
        "on a CPU and enough to learn an output format and its facts.",
    )
    steps: int = Field(
        default=3, gt=0, le=100, description="Optimizer steps on the batch (full batch each step)."
    )
    learning_rate: float = Field(default=1e-4, gt=0, le=1, description="AdamW learning rate of the student.")
    max_length: int = Field(
        default=1024, gt=8, description="Longest prompt + output trained or scored (tokens)."
    )
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        default="float32",
        description="Dtype of the student's weights; float32 by default because the metric is a small loss "
        "difference that bf16 rounding would blur.",
    )
    metric: str = Field(
        default="heldout_loss_drop",
        min_length=1,
        description="Name of the batch_metric published: the student's held-out completion loss before the "
        "batch minus after it (nats per token; higher = the batch taught what the held-out recordings need).",
    )
    source: str = Field(
        default="student_probe", min_length=1, description="`source` of the Feedback records."
    )
    seed: int = Field(default=0, description="Seed of the batches' order and of torch.")
