"""Settings of the soak run (`tailor bench soak`): a steady load of real steps into one live worker."""

from __future__ import annotations

from pydantic import Field

from bench.stream_config import LiveRigConfig


class SoakConfig(LiveRigConfig):
    minutes: float = Field(default=5.0, gt=0, le=24 * 60, description="Length of the steady phase, minutes.")
    rate_eps: float = Field(default=50.0, gt=0, le=100_000, description="Raw events produced per second.")
    hostile_fraction: float = Field(
        default=0.01,
        ge=0,
        le=0.5,
        description="Share of messages that are corrupt or hostile (each must end in the DLQ, once).",
    )
    rss_sample_s: float = Field(default=5.0, gt=0, description="Seconds between RSS samples of the worker.")
    rss_level_s: float = Field(
        default=60.0,
        ge=0,
        description="rss_start_mb / rss_end_mb are the median RSS over the first / last this many seconds "
        "of the steady phase (single samples swing with batches and flushes); 0 uses one "
        "reading each.",
    )
