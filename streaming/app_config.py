"""Service-wide settings: identity, local directories, metrics endpoint, logging."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class AppConfig(BaseModel):
    app_id: str = Field(default="tailor", description="Faust app id; also the consumer-group prefix.")
    data_dir: Path = Field(default=Path(".tailor"), description="Local state: blob store, frames, sinks.")
    blob_uri: str | None = Field(
        default=None, description="Blob store for claim-checked media (fsspec URI); default data_dir/blobs."
    )
    allowed_uri_schemes: tuple[str, ...] = Field(
        default=("file",), description="URI schemes a record may reference (claim checks, frames)."
    )
    allowed_roots: tuple[str, ...] = Field(
        default=(),
        description="Extra roots a file URI may point into, besides the blob store (absolute paths).",
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address /metrics binds to (loopback).")
    metrics_port: int = Field(default=9464, ge=0, le=65535, description="Port of /metrics; 0 picks one.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level.")
    log_json: bool = Field(default=False, description="Log one JSON object per line.")
    log_repeat_burst: int = Field(
        default=5,
        ge=0,
        description="Most records of one message template the Kafka client libraries (kafka, aiokafka, faust, "
        "mode) may log per `log_repeat_interval_s`; the rest are counted in the next one. 0: no limit.",
    )
    log_repeat_interval_s: float = Field(default=10.0, gt=0, description="Interval of `log_repeat_burst`.")
    malloc_arena_max: int = Field(
        default=2,
        ge=0,
        description="Most glibc malloc arenas of a worker (set at start-up, before its threads); fewer arenas "
        "keep RSS from swinging with the threads' allocations. 0: glibc's default (8 per core).",
    )
    malloc_trim_interval_s: float = Field(
        default=30.0,
        ge=0,
        description="How often a worker gives free heap memory back to the system (glibc malloc_trim). 0: never.",
    )
    shutdown_timeout_s: float = Field(
        default=25.0,
        gt=0,
        description="Longest a worker may take to stop after SIGTERM/SIGINT. Past it (a broker that cannot be "
        "reached to commit or leave the group) the process exits with status 70; what it had not "
        "committed is delivered again to the next worker. Keep it under the orchestrator's grace "
        "period (compose 30 s, deploy/k8s 45 s).",
    )
    worker_id: str = Field(default="worker-0", description="Name of this worker in logs and DLQ records.")
