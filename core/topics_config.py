"""Topic names and partition counts."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TopicsConfig(BaseModel):
    topic_raw_video: str = Field(default="tailor.raw.video", description="Raw video segments.")
    topic_raw_gui: str = Field(default="tailor.raw.gui", description="Raw GUI steps.")
    topic_raw_robot: str = Field(default="tailor.raw.robot", description="Raw robot steps.")
    topic_intents: str = Field(default="tailor.intents", description="User intents (compacted).")
    topic_anchors: str = Field(default="tailor.anchors", description="Factual anchors per window.")
    topic_examples: str = Field(default="tailor.examples", description="Validated tailored examples.")
    topic_rejected: str = Field(
        default="tailor.examples.rejected", description="Examples that failed validation, with reasons."
    )
    topic_feedback: str = Field(default="tailor.feedback", description="Downstream feedback.")
    topic_model_updates: str = Field(default="tailor.model.updates", description="Published weights.")
    topic_skips: str = Field(
        default="tailor.skips", description="Task families that produced nothing for a window, and why."
    )
    topic_dlq: str = Field(default="tailor.dlq", description="Dead letters: input that failed, with reason.")
    partitions: int = Field(default=4, gt=0, le=1024, description="Partitions for topics created at start.")
    replication_factor: int = Field(default=1, gt=0, description="Replication factor for created topics.")
