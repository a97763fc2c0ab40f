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
    mix_rounds: int = Field(
        default=1,
        ge=0,
        le=100,
        description="Rounds of issue 20's hostile records mixed into the steady phase (an ffconcat 'video', "
        "a raw H.264 growing to 16000x16000 in band, GUI sessions of flat 4096x8192 PNGs and of ~2 M-char "
        "html + accessibility, a forged model update); 0 sends none.",
    )
    mix_png_steps: int = Field(default=6, ge=1, description="Steps of each flat-PNG GUI session of the mix.")
    mix_text_steps: int = Field(default=3, ge=1, description="Steps of each big-text GUI session of the mix.")
    mix_text_chars: int = Field(
        default=1_900_000, ge=1, description="Chars of html and of accessibility text in each big-text step."
    )
    rss_limit_mb: float = Field(
        default=2048.0,
        gt=0,
        description="The worker's RSS limit for the run: its peak RSS (VmHWM) must stay under it.",
    )
    decoder_rss_limit_mb: float = Field(
        default=3072.0,
        gt=0,
        description="Peak RSS (VmHWM) allowed to each of the worker's decoder processes still alive at the "
        "end (they hold a window's decoded images; RLIMIT_AS, window_decode_memory_mb, stops them anyway).",
    )
    worker_max_window_decoded_mb: int = Field(
        default=128,
        gt=0,
        description="The worker's max_window_decoded_bytes, MiB: low enough that one flat-PNG session "
        "(about 100 MiB decoded per step) goes past it and its cache must evict.",
    )
    worker_window_max_key_mb: int = Field(
        default=6,
        gt=0,
        description="The worker's window_max_key_bytes, MiB: a big-text session (about 3.8 MB of state per "
        "step) closes its window by bytes and opens another, losing nothing.",
    )
