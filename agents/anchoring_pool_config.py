"""Settings of the decoder processes that anchor windows (agents/anchoring_pool.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AnchoringPoolConfig(BaseModel):
    window_decode_processes: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Processes that decode and anchor closed windows (media demuxers, decoders, experts), "
        "reused across windows; 0 runs them in the worker itself, without isolation (tests, debugging).",
    )
    window_decode_memory_mb: int = Field(
        default=3072,
        ge=256,
        description="Address-space limit (RLIMIT_AS) of each decoder process, MiB: a window whose decoding "
        "needs more fails in that process (reason decoder_out_of_memory), never in the worker.",
    )
    window_decode_tasks_per_process: int = Field(
        default=200,
        ge=1,
        description="Windows one decoder process anchors before it is replaced (fragmented heaps, leaks).",
    )
    window_decode_attempts: int = Field(
        default=2,
        ge=1,
        description="Starts of a window's decoding that may end without an outcome (the worker died while "
        "it decoded) before the window is dead-lettered as poison_window instead of decoded again.",
    )
