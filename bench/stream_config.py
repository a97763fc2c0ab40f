"""Settings of the live benchmarks (`tailor bench stream`, and the rig `tailor bench soak` shares)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_INTENTS: tuple[tuple[str, str], ...] = (
    ("training data from my robot episodes", "robot"),
    ("training data from my android and web agents", "gui"),
)


class LiveRigConfig(BaseModel):
    """What a live run needs: the real steps, a broker, a worker's window settings, bounds on every wait."""

    model_config = ConfigDict(frozen=True)

    shared_dir: Path | None = Field(
        default=None,
        description="The shared data folder (Bridge, UMI, AITW, Mind2Web); None: <repo>/../shared.",
    )
    data_dir: Path | None = Field(
        default=None,
        description="Where workers keep state, blobs and Parquet; None: a temporary folder, removed after.",
    )
    kafka_bootstrap: str | None = Field(
        default=None,
        description="A running Kafka-protocol cluster (loopback); None: start an embedded Tansu broker.",
    )
    partitions: int = Field(default=2, gt=0, le=64, description="Partitions of the benchmark's topics.")
    window_grace_s: float = Field(
        default=0.2, ge=0, description="Window grace after a final step (short, on purpose)."
    )
    window_gap_s: float = Field(default=1.0, gt=0, description="Idle gap that closes a key's window.")
    window_sweep_interval_s: float = Field(
        default=0.2, gt=0, description="How often idle windows are checked."
    )
    sink_flush_s: float = Field(
        default=2.0,
        gt=0,
        description="Parquet sink batch window (the worker's default): each flush writes one file per task "
        "family, so a shorter one costs CPU without changing the measured latency, which ends on "
        "the examples topic.",
    )
    session_timeout_s: float = Field(
        default=6.0, gt=0, description="Consumer-group session timeout of the worker."
    )
    intents: tuple[tuple[str, str], ...] = Field(
        default=DEFAULT_INTENTS, description="(text, domain) intents published first, so synthesis has work."
    )
    start_timeout_s: float = Field(
        default=120.0, gt=0, description="Longest wait for a worker's first example."
    )
    drain_timeout_s: float = Field(default=90.0, gt=0, description="Longest wait for the backlog to clear.")
    idle_s: float = Field(default=1.5, gt=0, description="No new output for this long ends a drain.")
    rss_sample_s: float = Field(default=2.0, gt=0, description="Seconds between RSS samples of the worker.")
    settle_s: float = Field(
        default=30.0,
        ge=0,
        le=600,
        description="Seconds of load (the run's own kind: saturated for stream, the steady rate for soak) "
        "after the warm-up round and before the start RSS is read. A worker's working set (fetch "
        "and producer buffers, window state, allocator pools) fills in its first seconds of load; "
        "RSS read at idle would count that filling as growth. The idle figure is reported too, "
        "as `rss_cold_mb`. 0: read the start RSS right after the warm-up round.",
    )
    max_events: int = Field(
        default=300_000,
        gt=0,
        description="Most raw events one side sends; phases end early at the cap (an embedded Tansu broker "
        "keeps every message in memory, about 27 KB per step here).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Worker log level."
    )


class StreamBenchConfig(LiveRigConfig):
    """`tailor bench stream`: the Faust pipeline against a bare consume-extract-produce loop, same broker."""

    seconds: float = Field(
        default=60.0, gt=0, le=3600, description="Sustained (saturated) phase of each side, seconds."
    )
    latency_seconds: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="Paced phase in which latency is measured; None: half of `seconds`.",
    )
    latency_rate_eps: float | None = Field(
        default=None,
        gt=0,
        description="Events/s of the paced phase; None: `latency_load` x the pipeline's eps.",
    )
    latency_load: float = Field(
        default=0.5, gt=0, le=1.0, description="Load of the paced phase, as a fraction of capacity."
    )
    backlog_events: int = Field(
        default=1500,
        gt=0,
        le=100_000,
        description="Most events produced but not yet through extraction in the sustained phase "
        "(bounds memory).",
    )
