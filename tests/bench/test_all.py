"""`tailor bench all`: plots and report from schema-valid inputs, failures recorded, and a real run."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from bench.all import PLOTS, attempt, run_all, write_report
from bench.all_config import QUICK, AllBenchConfig
from bench.all_report import RunRecord, machine_info, machine_line
from bench.extract import default_videos
from bench.plots import latency_sets
from bench.quality import run_quality_bench
from bench.quality_config import QualityBenchConfig
from bench.stream import latency_samples

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"


def samples(seed: int, n: int, scale: float) -> list[float]:
    rng = random.Random(seed)
    return latency_samples([rng.lognormvariate(0, 0.5) * scale for _ in range(n)])


def quality_json(backend: str, split: str, s_total: float) -> dict[str, Any]:
    domains = {
        d: {"cases": 3, "g_json": 1.0, "s_total": round(s_total * f, 3)}
        for d, f in (("robot", 1.1), ("gui", 1.0), ("video", 0.5))
    }
    return {
        "backend": backend,
        "split": split,
        "cases": 9,
        "g_json": 1.0,
        "s_total": s_total,
        "grounding_precision": 0.9,
        "by_domain": domains,
        "seconds": {"generate": 1.5},
    }


def write_inputs(out: Path) -> list[RunRecord]:
    """One JSON of each benchmark, shaped like the real ones (the keys plots and report read)."""
    extract_rows = [
        {
            "video": f"/x/{v}.mp4",
            "frames": 100,
            "decode_only_fps": fps,
            "extract_fps": fps * 0.9,
            "ratio": 0.9,
            "realtime_factor_per_core": 20.0,
        }
        for v, fps in (("bikes", 600.0), ("bbb", 200.0))
    ]
    files: dict[str, Any] = {
        "extract.json": {"results": extract_rows, **extract_rows[0]},
        "quality_rules_dev.json": quality_json("rules", "dev", 0.68),
        "quality_vllm_heldout.json": quality_json("vllm", "heldout", 0.2),
        "stream.json": {
            "seconds": 5,
            "baseline_eps": 400.0,
            "pipeline_eps": 130.0,
            "ratio": 0.325,
            "latency_p50_ms": 900.0,
            "latency_p95_ms": 2500.0,
            "rss_growth_pct": 3.0,
            "pipeline": {"latency_samples_ms": samples(1, 300, 1000)},
            "baseline": {"latency_samples_ms": samples(2, 300, 300)},
        },
        "soak.json": {
            "minutes": 0.25,
            "rate_eps": 30,
            "events_in": 900,
            "hostile_sent": 9,
            "dlq": 9,
            "latency_p95_ms": 2000.0,
            "rss_growth_pct": 1.0,
            "latency_samples_ms": samples(3, 200, 800),
        },
        "synth.json": {
            "jobs": 1,
            "candidates": 1,
            "vllm_examples_per_s": 0.3,
            "hf_examples_per_s": 0.09,
            "ratio": 3.33,
            "json_valid_rate": 0.7,
            "hf_json_valid_rate": 0.0,
        },
    }
    for name, payload in files.items():
        (out / name).write_text(json.dumps(payload))
    return [RunRecord(n.removesuffix(".json"), n, "ok", 1.0) for n in files]


def assert_png(path: Path, min_side: int = 400) -> tuple[int, int]:
    with Image.open(path) as img:
        img.verify()  # a whole, valid PNG
    with Image.open(path) as img:
        assert img.format == "PNG"
        width, height = img.size
        assert width >= min_side and height >= 300
        colors = img.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colors is None or len(colors) > 50  # drawn, not a blank canvas
    return width, height


def test_plots_and_report_from_every_benchmark_json(tmp_path: Path) -> None:
    records = write_inputs(tmp_path)
    records.append(RunRecord("synth-bis", "synth_bis.json", "failed", 2.0, "VllmServerError: start timeout"))
    records.append(RunRecord("soak-bis", None, "skipped", error="skipped (--skip)"))
    report = write_report(tmp_path, records, machine_info())
    for name in PLOTS:
        assert_png(tmp_path / name)
    text = report.read_text()
    for r in records:
        assert r.name in text
        if r.status == "ok":
            assert f"[{r.file}]({r.file})" in text
    for name in PLOTS:
        assert f"]({name})" in text
    assert "VllmServerError: start timeout" in text and "summary.json" in text
    machine = json.loads((tmp_path / "summary.json").read_text())["machine"]
    assert machine["cpu_count"] > 0 and machine["ram_gib"] > 0 and machine["git_commit"]
    assert f"{machine['cpu_count']} cores" in text and machine["date"] in text
    # the headline figures of each benchmark reach the report
    for figure in ("0.325", "3.330", "0.680", "bikes.mp4"):
        assert figure in text


def test_missing_inputs_still_give_valid_plots_that_say_so(tmp_path: Path) -> None:
    report = write_report(
        tmp_path, [RunRecord("stream", "stream.json", "failed", 0.1, "BenchError: no data")], machine_info()
    )
    for name in PLOTS:
        assert_png(tmp_path / name)
    assert "BenchError: no data" in report.read_text()
    assert latency_sets(None, None) == {}


def test_a_failing_benchmark_is_recorded_and_writes_no_file(tmp_path: Path) -> None:
    def broken() -> dict[str, Any]:
        raise ValueError("no such video")

    record = attempt("extract", "extract.json", tmp_path, broken)
    assert record.status == "failed" and record.error == "ValueError: no such video"
    assert not (tmp_path / "extract.json").exists()
    ok = attempt("quality", "q.json", tmp_path, lambda: {"s_total": 0.5})
    assert ok.status == "ok" and json.loads((tmp_path / "q.json").read_text()) == {"s_total": 0.5}


def test_quick_overlays_defaults_and_options_overlay_quick(tmp_path: Path) -> None:
    full = AllBenchConfig.make(out=tmp_path)
    quick = AllBenchConfig.make(True, out=tmp_path, soak_minutes=0.5, stream_seconds=None)
    assert full.quality_runs() == [("rules", "dev"), ("rules", "heldout"), ("vllm", "heldout")]
    assert quick.quality_runs() == [("rules", "dev"), ("rules", "heldout")]
    assert quick.soak_minutes == 0.5 and quick.stream_seconds == QUICK["stream_seconds"]
    assert machine_line(machine_info()).count(";") >= 3


def test_run_all_records_each_benchmark_and_survives_a_failing_one(tmp_path: Path) -> None:
    """Real extraction and rules quality; stream and soak pointed at a folder without the real steps, so they
    fail fast; synth skipped. The report holds all of it."""
    bikes = [v for v in default_videos() if v.name == "bikes.mp4"]
    cfg = AllBenchConfig.make(
        True,
        out=tmp_path / "out",
        extract_videos=tuple(bikes),
        skip=("learn", "synth"),
        quality_limit=6,
        quality_rules_splits=("heldout",),
        shared_dir=tmp_path / "nothing",
    )
    records = {r.name: r for r in run_all(cfg)}
    assert records["extract"].status == "ok" and records["quality rules/heldout"].status == "ok"
    assert records["stream"].status == "failed" and "missing_data" in (records["stream"].error or "")
    assert records["soak"].status == "failed" and "missing_data" in (records["soak"].error or "")
    assert records["synth"].status == "skipped" and records["learn"].status == "skipped"
    out = tmp_path / "out"
    extract = json.loads((out / "extract.json").read_text())
    assert extract["results"][0]["frames"] == 250 and extract["extract_fps"] > 0
    quality = json.loads((out / "quality_rules_heldout.json").read_text())
    assert quality["cases"] == 6 and set(quality["by_domain"]) <= {"robot", "gui", "video"}
    assert quality == {
        **run_quality_bench("rules", "heldout", config=QualityBenchConfig(limit=6)),
        "seconds": quality["seconds"],
    }  # the same figures as `tailor bench quality`
    report = (out / "report.md").read_text()
    for name in ("extract.json", "quality_rules_heldout.json", *PLOTS, "summary.json"):
        assert (out / name).is_file() and name in report
    assert "missing_data" in report
    assert_png(out / "quality.png")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_bench_all_quick_end_to_end(tmp_path: Path) -> None:
    """`tailor bench all --quick`: every benchmark for real."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"the shared data folder {SHARED} is absent")
    from app.cli import main

    out = tmp_path / "all"
    result = CliRunner().invoke(main, ["bench", "all", "--quick", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    runs = {r["name"]: r for r in summary["runs"]}
    assert {r["status"] for r in runs.values()} == {"ok"}, runs
    stream = json.loads((out / "stream.json").read_text())
    assert stream["pipeline"]["latency_samples_ms"] and stream["baseline"]["latency_samples_ms"]
    assert json.loads((out / "soak.json").read_text())["latency_samples_ms"]
    synth = json.loads((out / "synth.json").read_text())
    assert synth["vllm_examples_per_s"] > 0 and synth["hf_examples_per_s"] > 0
    for name in PLOTS:
        assert_png(out / name)
    # the learning curve at toy sizes: rules baseline, base model, warm start, one GRPO round, each scored
    curve = json.loads((out / "learn.json").read_text())
    assert [p["name"] for p in curve["points"]] == ["base", "warm start", "round 1"]
    assert curve["rules"]["heldout"]["cases"] == 2 and curve["rules"]["data"]["acceptance"] == 1.0
    assert (
        curve["rules"]["data"]["probe_loss_drop"] is not None
    )  # a student trained on the rules' dev outputs
    assert curve["points"][1]["train"]["rows"] > 0 and curve["points"][2]["train"]["steps"] == 1
    assert curve["final_vs_base"]["cases"] == 2
    assert_png(out / "learn" / "learn.png")
    report = (out / "report.md").read_text()
    assert all(r["file"] in report for r in runs.values()) and "Learning curve" in report
