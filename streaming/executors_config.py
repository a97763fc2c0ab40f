"""Settings of the stages' thread pools (streaming/executors.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

DEFAULT_STAGE_THREADS = {
    "ingest": 4,
    "windows": 2,
    "anchors": 6,
    "synthesis": 4,
    "sink": 1,
    "reload": 1,
    "retention": 1,
}


class ExecutorsConfig(BaseModel):
    stage_threads: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_STAGE_THREADS),
        description="Threads of each stage's own pool for its blocking work (ingest: parsing and media "
        "probes; windows: spilling media; anchors: a window's anchoring, waiting on its decoder process; "
        "synthesis: loading key frames; sink: Parquet writes; reload: applying a model update; retention: deleting expired blobs). A stage "
        "whose work blocks (or a timeout that left a thread behind) fills only its own pool. A stage not "
        "named gets 2.",
    )
