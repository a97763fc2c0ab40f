"""report.md and summary.json of `tailor bench all`: the machine the figures came from, what ran (or why
not), the headline figures of each benchmark, the plots, and every file written."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bench.plots import extract_rows
from bench.sources import REPO

Status = Literal["ok", "failed", "skipped"]


@dataclass
class RunRecord:
    """One benchmark run of the report: its JSON file when it wrote one, its error when it failed."""

    name: str
    file: str | None
    status: Status
    seconds: float = 0.0
    error: str | None = None


def _command(*argv: str) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=15, cwd=REPO)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM, GPUs (nvidia-smi), date (UTC), git commit, Python, load average."""
    gpus = _command("nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader")
    commit = _command("git", "rev-parse", "--short=12", "HEAD")
    dirty = _command("git", "status", "--porcelain", "--untracked-files=no")
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "gpus": [g.strip() for g in gpus.splitlines() if g.strip()] if gpus else [],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": commit,
        "git_dirty": bool(dirty) if dirty is not None else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }


def machine_line(m: Mapping[str, Any]) -> str:
    gpu = ", ".join(m.get("gpus") or []) or "no GPU"
    commit = m.get("git_commit") or "unknown commit"
    if m.get("git_dirty"):
        commit += " with local changes"
    load = f"load average {m['load_avg_start'][0]}" if m.get("load_avg_start") else ""
    if m.get("load_avg_end"):
        load += f" at start, {m['load_avg_end'][0]} at end"
    return (
        f"{m.get('cpu_model')}, {m.get('cpu_count')} cores, {m.get('ram_gib')} GiB RAM, {gpu}; "
        f"{m.get('date')}; commit {commit}; Python {m.get('python')}; {load}"
    )


def _f(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e9:
            return str(int(value))
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def _key(name: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda s: s.get(name)


# (file, section title, [(column header, value of the file's JSON)]): the benchmarks shown as one row.
ONE_ROW_SECTIONS: tuple[tuple[str, str, list[tuple[str, Callable[[Mapping[str, Any]], Any]]]], ...] = (
    (
        "stream.json",
        "Stream",
        [
            ("seconds", _key("seconds")),
            ("baseline eps", _key("baseline_eps")),
            ("pipeline eps", _key("pipeline_eps")),
            ("ratio", _key("ratio")),
            ("p50 ms", _key("latency_p50_ms")),
            ("p95 ms", _key("latency_p95_ms")),
            ("RSS growth %", _key("rss_growth_pct")),
        ],
    ),
    (
        "soak.json",
        "Soak",
        [
            ("minutes", _key("minutes")),
            ("rate eps", _key("rate_eps")),
            ("events in", _key("events_in")),
            ("hostile sent", _key("hostile_sent")),
            ("DLQ", _key("dlq")),
            ("p95 ms", _key("latency_p95_ms")),
            ("RSS growth %", _key("rss_growth_pct")),
        ],
    ),
    (
        "synth.json",
        "Synthesis",
        [
            ("prompts × candidates", lambda s: f"{s.get('jobs')} × {s.get('candidates')}"),
            ("vLLM ex/s", _key("vllm_examples_per_s")),
            ("transformers ex/s", _key("hf_examples_per_s")),
            ("ratio", _key("ratio")),
            ("vLLM JSON-valid", _key("json_valid_rate")),
            ("transformers JSON-valid", _key("hf_json_valid_rate")),
        ],
    ),
)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_f(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _figures(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Headline figures per benchmark, from the loaded JSON (file name -> content)."""
    out: list[str] = []
    if "extract.json" in results:
        rows = [
            [
                Path(str(r.get("video"))).name,
                r.get("frames"),
                r.get("decode_only_fps"),
                r.get("extract_fps"),
                r.get("ratio"),
                r.get("realtime_factor_per_core"),
            ]
            for r in extract_rows(results["extract.json"])
        ]
        out += ["### Extraction (`extract.json`)", ""]
        out += _table(
            ["video", "frames", "decode-only fps", "extraction fps", "ratio", "× real time per core"], rows
        )
    quality = {k: v for k, v in results.items() if k.startswith("quality_")}
    if quality:
        domains = sorted({d for q in quality.values() for d in (q.get("by_domain") or {})})
        rows = [
            [
                q.get("backend"),
                q.get("split"),
                q.get("cases"),
                q.get("g_json"),
                q.get("s_total"),
                q.get("s_accepted"),
                q.get("pass_rate"),
                q.get("grounding_precision"),
                *[(q.get("by_domain") or {}).get(d, {}).get("s_total") for d in domains],
                *[(q.get("by_domain") or {}).get(d, {}).get("s_accepted") for d in domains],
                (q.get("seconds") or {}).get("generate"),
            ]
            for q in quality.values()
        ]
        out += ["### Refinement quality (`quality_*.json`)", ""]
        out += _table(
            [
                "backend",
                "split",
                "cases",
                "G_json",
                "S_total",
                "S_accepted",
                "pass rate",
                "grounding",
                *[f"{d} S_total" for d in domains],
                *[f"{d} S_accepted" for d in domains],
                "generate s",
            ],
            rows,
        )
    if "learn.json" in results:
        curve = results["learn.json"]
        rows = [
            [
                p.get("name"),
                p["heldout"].get("s_total"),
                p["heldout"].get("s_accepted"),
                p["heldout"].get("pass_rate"),
                p["data"].get("acceptance"),
                p["data"].get("mean_reward"),
                p["data"].get("probe_loss_drop"),
                p.get("wall_seconds"),
            ]
            for p in [curve["rules"], *curve["points"]]
        ]
        out += ["### Learning curve (`learn.json`, `learn/learn.png`)", ""]
        out += _table(
            [
                "point",
                "heldout S_total",
                "heldout S_accepted",
                "pass rate",
                "dev acceptance",
                "mean reward",
                "probe loss drop",
                "wall s",
            ],
            rows,
        )
        gain = curve.get("final_vs_base") or {}
        if gain.get("cases"):
            out += [
                (
                    f"Last point vs base, heldout S_accepted {gain['mean_diff']:+.3f} (95 % CI "
                    f"{gain['ci_low']:+.3f}..{gain['ci_high']:+.3f}, {gain['cases']} cases)."
                ),
                "",
            ]
        from bench.learn_ablation import ablation_lines

        lines = ablation_lines(curve.get("ablation"))
        if lines:
            out += [
                "Ablation (a DPO round with downstream feedback vs one with rule rewards only):",
                "",
                *[f"- {line.strip()}" for line in lines],
                "",
            ]
    for file, title, columns in ONE_ROW_SECTIONS:
        if file in results:
            s = results[file]
            out += [f"### {title} (`{file}`)", ""]
            out += _table([header for header, _ in columns], [[value(s) for _, value in columns]])
    return out


def render_report(
    records: list[RunRecord],
    machine: Mapping[str, Any],
    results: Mapping[str, Mapping[str, Any]],
    plots: Mapping[str, str | None],
) -> str:
    """report.md: `plots` maps each PNG file name to None (written) or the error that stopped it."""
    lines = ["# Tailor benchmark report", "", f"Machine: {machine_line(machine)}", "", "## Runs", ""]
    lines += _table(
        ["benchmark", "status", "seconds", "file or error"],
        [
            [
                r.name,
                r.status,
                f"{r.seconds:.1f}",
                f"[{r.file}]({r.file})" if r.status == "ok" and r.file else (r.error or ""),
            ]
            for r in records
        ],
    )
    lines += ["## Figures", ""] + _figures(results)
    lines += ["## Plots", ""]
    for name, error in plots.items():
        title = name.removesuffix(".png").replace("_", " ")
        lines += [f"![{title}]({name})" if error is None else f"{name}: not drawn ({error})", ""]
    files = [r.file for r in records if r.status == "ok" and r.file]
    files += [n for n, e in plots.items() if e is None] + ["summary.json", "report.md"]
    lines += ["## Files", ""] + [f"- [{f}]({f})" for f in files] + [""]
    return "\n".join(lines)


def write_summary(
    out: Path, records: list[RunRecord], machine: Mapping[str, Any], plots: Mapping[str, str | None]
) -> Path:
    path = out / "summary.json"
    payload = {
        "machine": dict(machine),
        "runs": [asdict(r) for r in records],
        "plots": {n: ("ok" if e is None else e) for n, e in plots.items()},
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path
