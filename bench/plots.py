"""The PNG plots of `tailor bench all`, drawn from the benchmarks' JSON files with matplotlib's Agg canvas
(no display, no pyplot state):

- `throughput.png`: extraction vs decode-only frames/s per video, vLLM vs transformers examples/s, the
  bare loop vs the Faust pipeline events/s;
- `latency.png`: the distributions of example latency (stream pipeline and baseline, soak), from the
  `latency_samples_ms` the stream and soak JSON carry;
- `quality.png`: S_total per domain (and overall) for each backend and split of the refinement benchmark.

A benchmark whose JSON is missing leaves its panel saying so; the plot is still written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110
COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")


def _figure(width: float, height: float, cols: int) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, cols, squeeze=False)[0]
    return fig, list(axes)


def _missing(ax: Axes, title: str, why: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


def _bars(ax: Axes, labels: list[str], values: list[float], title: str, ylabel: str) -> None:
    bars = ax.bar(labels, values, color=[COLORS[i % len(COLORS)] for i in range(len(values))])
    ax.bar_label(bars, fmt="%.3g", padding=2, fontsize=8)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, max(values + [1e-9]) * 1.18)
    ax.tick_params(axis="x", labelsize=8)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def extract_rows(extract: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The per-video results of an extract JSON (one video: the object itself; several: `results`)."""
    rows = extract.get("results")
    return list(rows) if isinstance(rows, list) else [extract]


def throughput_png(
    path: Path,
    extract: Mapping[str, Any] | None,
    synth: Mapping[str, Any] | None,
    stream: Mapping[str, Any] | None,
) -> Path:
    fig, (ax_x, ax_s, ax_p) = _figure(14, 4.4, 3)
    if extract:
        rows = extract_rows(extract)
        top = 0.0
        for i, (key, label) in enumerate((("decode_only_fps", "decode only"), ("extract_fps", "extraction"))):
            values = [_number(row.get(key)) or 0.0 for row in rows]
            top = max([top, *values])
            bars = ax_x.bar(
                [j + (i - 0.5) * 0.4 for j in range(len(rows))], values, 0.4, label=label, color=COLORS[i]
            )
            ax_x.bar_label(bars, fmt="%.3g", padding=2, fontsize=8)
        ax_x.set_xticks(range(len(rows)), [Path(str(row.get("video", "?"))).name for row in rows], fontsize=8)
        ax_x.set_ylim(0, top * 1.18 + 1e-9)
        ax_x.set_title("Extraction vs decode-only (frames/s)")
        ax_x.set_ylabel("frames / s")
        ax_x.legend(fontsize=8)
    else:
        _missing(ax_x, "Extraction (frames/s)", "not run")
    if synth:
        labels, values = ["vLLM"], [_number(synth.get("vllm_examples_per_s")) or 0.0]
        hf = _number(synth.get("hf_examples_per_s"))
        if hf is not None:
            labels.append("transformers")
            values.append(hf)
        ratio = synth.get("ratio")
        _bars(ax_s, labels, values, f"Synthesis (examples/s), ratio {ratio}", "examples / s")
    else:
        _missing(ax_s, "Synthesis (examples/s)", "not run")
    if stream:
        values = [_number(stream.get("baseline_eps")) or 0.0, _number(stream.get("pipeline_eps")) or 0.0]
        _bars(
            ax_p,
            ["bare loop", "Faust pipeline"],
            values,
            f"Stream (raw events/s), ratio {stream.get('ratio')}",
            "events / s",
        )
    else:
        _missing(ax_p, "Stream (raw events/s)", "not run")
    return _save(fig, path)


def latency_sets(stream: Mapping[str, Any] | None, soak: Mapping[str, Any] | None) -> dict[str, list[float]]:
    """Named latency samples (ms) found in the stream and soak JSON; sets without samples are left out."""
    sets: dict[str, list[float]] = {}
    for side in ("pipeline", "baseline"):
        part = (stream or {}).get(side)
        if isinstance(part, Mapping) and part.get("latency_samples_ms"):
            sets[f"stream {side}"] = [float(v) for v in part["latency_samples_ms"]]
    if soak and soak.get("latency_samples_ms"):
        sets["soak"] = [float(v) for v in soak["latency_samples_ms"]]
    return sets


def latency_png(path: Path, stream: Mapping[str, Any] | None, soak: Mapping[str, Any] | None) -> Path:
    fig, (ax_box, ax_cdf) = _figure(12, 4.4, 2)
    sets = latency_sets(stream, soak)
    if not sets:
        _missing(ax_box, "Example latency (ms)", "no latency samples (stream / soak not run)")
        _missing(ax_cdf, "Cumulative distribution", "no latency samples")
        return _save(fig, path)
    names = list(sets)
    ax_box.boxplot([sets[n] for n in names], whis=(5, 95), showfliers=False)
    ax_box.set_xticks(range(1, len(names) + 1), [f"{n}\n(n={len(sets[n])})" for n in names])
    ax_box.set_title("Example latency, ms (box: p25-p75, whiskers: p5-p95)")
    ax_box.set_ylabel("ms from a window's last event to its example")
    for i, name in enumerate(names):
        ordered = sorted(sets[name])
        n = len(ordered)
        ax_cdf.step(
            ordered, [(k + 1) / n for k in range(n)], where="post", label=name, color=COLORS[i % len(COLORS)]
        )
    ax_cdf.axhline(0.95, color="#999999", linewidth=0.8, linestyle="--")
    ax_cdf.set_title("Cumulative distribution (dashed: p95)")
    ax_cdf.set_xlabel("latency, ms")
    ax_cdf.set_ylabel("fraction of examples")
    ax_cdf.set_ylim(0, 1.02)
    ax_cdf.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def quality_png(path: Path, runs: Mapping[str, Mapping[str, Any]]) -> Path:
    """Grouped bars: for each domain (and `all`), one bar per run (label -> quality JSON)."""
    fig, (ax,) = _figure(max(8.0, 2.0 + 1.1 * len(runs) * 1.4), 4.6, 1)
    if not runs:
        _missing(ax, "Refinement benchmark, S_total by domain", "not run")
        return _save(fig, path)
    domains = ["all"] + sorted({d for r in runs.values() for d in (r.get("by_domain") or {})})
    width = 0.8 / len(runs)
    for i, (label, result) in enumerate(runs.items()):
        by_domain = result.get("by_domain") or {}
        values = [
            _number((result if d == "all" else by_domain.get(d, {})).get("s_total")) or 0.0 for d in domains
        ]
        xs = [j + (i - (len(runs) - 1) / 2) * width for j in range(len(domains))]
        bars = ax.bar(xs, values, width, label=label, color=COLORS[i % len(COLORS)])
        ax.bar_label(bars, fmt="%.2f", padding=1, fontsize=7)
    ax.set_xticks(range(len(domains)), domains)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("S_total")
    ax.set_title("Refinement benchmark: S_total by domain and backend")
    ax.legend(fontsize=8, ncols=min(4, len(runs)), loc="upper right")
    return _save(fig, path)


def learn_png(path: Path, curve: Mapping[str, Any]) -> Path:
    """The learning curve: heldout S_accepted / S_total per point with the rules and base lines (left); the
    model's own dev data per point: acceptance, mean reward, probe loss drop (right)."""
    fig, (left, right) = _figure(11.0, 4.4, 2)
    points = list(curve.get("points") or [])
    if not points:
        _missing(left, "Learning curve", "no point")
        _missing(right, "The model's data", "no point")
        return _save(fig, path)
    xs = list(range(len(points)))
    names = [str(p["name"]) for p in points]
    for i, key in enumerate(("s_accepted", "s_total")):
        left.plot(
            xs,
            [_number(p["heldout"].get(key)) or 0.0 for p in points],
            marker="o",
            label=key,
            color=COLORS[i],
        )
    rules = (curve.get("rules") or {}).get("heldout") or {}
    if _number(rules.get("s_accepted")) is not None:
        left.axhline(float(rules["s_accepted"]), color=COLORS[3], linestyle="--", label="rules s_accepted")
    left.axhline(
        _number(points[0]["heldout"].get("s_accepted")) or 0.0,
        color=COLORS[7],
        linestyle=":",
        label="base s_accepted",
    )
    left.set_xticks(xs, names)
    left.set_ylim(0, 1.05)
    left.set_title(f"Heldout ({points[0]['heldout'].get('cases')} cases)")
    left.legend(fontsize=8)
    rules_data = (curve.get("rules") or {}).get("data") or {}
    for i, key in enumerate(("acceptance", "mean_reward", "probe_loss_drop")):
        values = [_number(p["data"].get(key)) for p in points]  # None (not measured) leaves a gap, not a 0
        right.plot(
            xs, [math.nan if v is None else v for v in values], marker="o", label=key, color=COLORS[i + 4]
        )
        if _number(rules_data.get(key)) is not None:
            right.axhline(
                float(rules_data[key]),
                color=COLORS[i + 4],
                linestyle="--",
                linewidth=0.8,
                label=f"rules {key}",
            )
    right.set_xticks(xs, names)
    right.set_title(f"The model's outputs on {points[0]['data'].get('cases')} dev windows (dashed: rules)")
    right.legend(fontsize=8)
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
