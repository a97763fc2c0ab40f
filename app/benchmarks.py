"""Benchmark entry points behind `tailor bench ...`: run, print a table, write JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench.extract import default_videos
from bench.extract_config import BenchExtractConfig
from bench.synth_config import BenchSynthConfig


def run_bench_extract(
    videos: list[Path], threads: int | None, config: BenchExtractConfig, json_path: Path | None
) -> list[dict[str, Any]]:
    from rich.console import Console
    from rich.table import Table

    from bench.extract import run_extract_bench

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


def report_bench_synth(config: BenchSynthConfig, json_path: Path | None) -> dict[str, Any]:
    from rich.console import Console
    from rich.table import Table

    from bench.synth import run_bench_synth

    result = run_bench_synth(config)
    table = Table(
        title=f"tailor bench synth ({result['jobs']} prompts, {result['max_tokens']} tokens max, "
        f"{result['images_per_prompt']} images per vLLM prompt)"
    )
    for key in ("vllm_examples_per_s", "hf_examples_per_s", "ratio", "json_valid_rate", "hf_json_valid_rate"):
        table.add_column(key)
    table.add_row(
        *(
            str(result[k])
            for k in (
                "vllm_examples_per_s",
                "hf_examples_per_s",
                "ratio",
                "json_valid_rate",
                "hf_json_valid_rate",
            )
        )
    )
    Console(width=160).print(table)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2))
    return result


def report_bench_quality(
    settings: Any,
    backend: str,
    split: str,
    cases_dir: Path | None,
    json_path: Path | None,
    vllm_url: str | None,
    max_new_tokens: int | None,
    limit: int | None,
    vllm_model: str | None = None,
) -> dict[str, Any]:
    """`--backend VERSION` evaluates published weights (in-process, on the base model) by version or folder."""
    from rich.console import Console
    from rich.table import Table

    from bench.quality import run_quality_bench
    from bench.quality_config import QualityBenchConfig

    weights: Path | None = None
    name = backend
    if backend not in ("rules", "hf", "vllm"):
        weights = _weights_dir(settings, backend)
        name = "hf"
    cfg = QualityBenchConfig(
        model_dir=settings.model_dir,
        weights=weights,
        vllm_url=vllm_url,
        limit=limit,
        **({"max_new_tokens": max_new_tokens} if max_new_tokens else {}),
        **({"vllm_model": vllm_model} if vllm_model else {}),
    )
    result = run_quality_bench(name, split, cases_dir, json_path, cfg)
    table = Table(title=f"tailor bench quality: {backend} on {split} ({result['cases']} cases)")
    cols = (
        "domain",
        "cases",
        "g_json",
        "s_field",
        "s_semantic",
        "s_traj",
        "s_total",
        "s_accepted",
        "pass_rate",
        "grounding_precision",
    )
    for col in cols:
        table.add_column(col)
    rows = [("all", result)] + sorted(result.get("by_domain", {}).items())
    for domain, fig in rows:
        table.add_row(domain, *(_fmt(fig.get(c)) for c in cols[1:]))
    Console(width=160).print(table)
    return result


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _weights_dir(settings: Any, backend: str) -> Path:
    folder = Path(backend)
    if folder.is_dir():
        return folder
    from streaming.reload_stage import model_store_root
    from trainer.store import ModelStore

    store = ModelStore(model_store_root(settings))
    update = next((u for u in reversed(store.history()) if u.version == backend), None)
    if update is None:
        raise ValueError(f"no published version {backend!r} in {model_store_root(settings)}")
    return store.resolve(update)


def print_figures(title: str, result: dict[str, Any], keys: tuple[str, ...], json_path: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for key in keys:
        table.add_column(key)
    table.add_row(*(_fmt(result.get(k)) for k in keys))
    Console(width=160).print(table)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2, default=str))


def print_learn(curve: dict[str, Any], out: Path) -> None:
    """The curve as a table: one row per point (and the rules baseline), then the final-vs-base gain."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title="tailor bench learn (heldout: S_total, S_accepted, pass rate, grounding; the model's dev "
        "outputs: acceptance, mean R_total, student-probe loss drop)"
    )
    cols = ("point", "S_tot", "S_acc", "pass", "ground", "dev acc", "reward", "probe", "wall s")
    for col in cols:
        table.add_column(col)
    for p in [curve["rules"], *curve["points"]]:
        h, d = p["heldout"], p["data"]
        table.add_row(
            p["name"],
            *(
                _fmt(v)
                for v in (
                    h.get("s_total"),
                    h.get("s_accepted"),
                    h.get("pass_rate"),
                    h.get("grounding_precision"),
                    d.get("acceptance"),
                    d.get("mean_reward"),
                    d.get("probe_loss_drop"),
                    p.get("wall_seconds"),
                )
            ),
        )
    Console().print(table)
    from bench.learn_ablation import ablation_lines

    for line in ablation_lines(curve.get("ablation")):
        Console().print(line)
    gain = curve["final_vs_base"]
    if gain.get("cases"):
        Console().print(
            f"last point vs base, heldout S_accepted: {gain['mean_diff']:+.3f} (95% CI "
            f"{gain['ci_low']:+.3f}..{gain['ci_high']:+.3f}, {gain['cases']} cases); "
            f"{out / 'learn.json'}, {out / 'learn.png'}"
        )


def report_bench_scale(config: Any, json_path: Path | None) -> None:
    """`tailor bench scale`: run it, one row per worker count (ratio against the 1-worker point)."""
    from rich.console import Console
    from rich.table import Table

    from bench.scale import run_scale_bench

    result = run_scale_bench(config)
    table = Table(
        title=f"tailor bench scale ({result['cpu_count']} cores, {result['partitions']} partitions, "
        f"{result['seconds']:.0f} s saturated per point; load {result['load_avg_start'][0]})"
    )
    cols = ("round", "workers", "eps", "examples/s", "partitions", "events in", "RSS MiB", "load", "drained")
    for col in cols:
        table.add_column(col)
    for p in result["points"]:
        table.add_row(
            str(p["round"]),
            str(p["workers"]),
            _fmt(p["eps"]),
            _fmt(p["examples_per_s"]),
            "/".join(map(str, p["partitions_per_worker"])),
            "/".join(map(str, p["events_per_worker"])),
            _fmt(p["rss_mb_total"]),
            _fmt(p["load_avg"][0]),
            str(p["drained"]),
        )
    console = Console(width=160)
    console.print(table)
    for n, eps in result["eps"].items():
        console.print(
            f"{n} worker(s): {eps:.1f} events/s (median of {result['rounds']}), ratio {result['ratio'][n]}"
        )
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2, default=str))
