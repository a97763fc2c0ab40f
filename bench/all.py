"""`tailor bench all`: every benchmark in one run, each JSON into one folder, then the plots and report.md.

    from bench.all import run_all
    from bench.all_config import AllBenchConfig
    summary = run_all(AllBenchConfig.make(quick=True, out=Path("bench-out")))

Order: extract, stream, soak (no model), then quality (rules first), the learning curve and synth. The
quality runs of the vllm backend share one vLLM server: the given URL, or a CPU server started when first needed and stopped
before synth, which (without a URL) starts its own and stops it before its transformers side, as `tailor
bench synth` does. A benchmark that fails is recorded in the report with its error; the others still run.

Files: extract.json, quality_<backend>_<split>.json, stream.json, soak.json, learn.json (and learn/ with
learn.png and the adapters), synth.json,
throughput.png, latency.png, quality.png, summary.json, report.md.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from bench.all_config import AllBenchConfig, Benchmark
from bench.all_report import RunRecord, machine_info, render_report, write_summary
from bench.plots import latency_png, quality_png, throughput_png

log = logging.getLogger(__name__)

PLOTS = ("throughput.png", "latency.png", "quality.png")


class SharedVllm:
    """The vLLM server of the quality runs: the configured URL, or one CPU server started on first use (a
    failed start is remembered, not retried) and stopped by `stop`."""

    def __init__(self, config: AllBenchConfig) -> None:
        self.config = config
        self.server: Any = None
        self.error: Exception | None = None

    def url(self) -> str:
        if self.config.vllm_url:
            return self.config.vllm_url
        if self.error is not None:
            raise RuntimeError(f"the shared vLLM server did not start: {self.error}")
        if self.server is None:
            from agents.vllm_server import VllmServer
            from agents.vllm_server_config import VllmServerConfig

            server = VllmServer(
                VllmServerConfig(
                    venv=self.config.vllm_venv,
                    model_dir=self.config.model_dir,
                    served_model_name=self.config.served_name,
                    start_timeout_s=300,
                )
            )
            try:
                server.start()
            except Exception as exc:
                self.error = exc
                raise
            self.server = server
        assert self.server.base_url is not None
        return str(self.server.base_url)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def _extract(cfg: AllBenchConfig) -> dict[str, Any]:
    from bench.extract import default_videos, run_extract_bench
    from bench.extract_config import BenchExtractConfig

    bench_cfg = BenchExtractConfig(repeats=cfg.extract_repeats)
    results = [run_extract_bench(v, None, bench_cfg) for v in (list(cfg.extract_videos) or default_videos())]
    return {"results": results, **results[0]}  # the shape `tailor bench extract --json` writes


def _quality(cfg: AllBenchConfig, vllm: SharedVllm, backend: str, split: str) -> dict[str, Any]:
    from bench.quality import run_quality_bench
    from bench.quality_config import QualityBenchConfig

    qcfg = QualityBenchConfig(
        model_dir=cfg.model_dir,
        vllm_venv=cfg.vllm_venv,
        vllm_model=cfg.served_name,
        vllm_url=vllm.url() if backend == "vllm" else None,
        limit=cfg.quality_limit,
        max_new_tokens=cfg.quality_max_new_tokens,
    )
    return run_quality_bench(backend, split, None, None, qcfg)


def _stream(cfg: AllBenchConfig) -> dict[str, Any]:
    from bench.stream import run_stream_bench
    from bench.stream_config import StreamBenchConfig

    return run_stream_bench(
        StreamBenchConfig(
            seconds=cfg.stream_seconds,
            latency_seconds=cfg.stream_latency_seconds,
            kafka_bootstrap=cfg.kafka_bootstrap,
            shared_dir=cfg.shared_dir,
            settle_s=cfg.settle_s,
            log_level="WARNING",
        )
    )


def _soak(cfg: AllBenchConfig) -> dict[str, Any]:
    from bench.soak import run_soak
    from bench.soak_config import SoakConfig

    return run_soak(
        SoakConfig(
            minutes=cfg.soak_minutes,
            rate_eps=cfg.soak_rate_eps,
            settle_s=cfg.settle_s,
            kafka_bootstrap=cfg.kafka_bootstrap,
            shared_dir=cfg.shared_dir,
            log_level="WARNING",
        )
    )


def _synth(cfg: AllBenchConfig, vllm: SharedVllm) -> dict[str, Any]:
    from bench.synth import run_bench_synth
    from bench.synth_config import BenchSynthConfig

    # Without a URL synth starts its own server and stops it before its transformers side (as `tailor bench
    # synth` does), so an idle server never shares the CPU with the in-process baseline.
    vllm.stop()
    return run_bench_synth(
        BenchSynthConfig(
            jobs=cfg.synth_jobs,
            candidates=cfg.synth_candidates,
            max_tokens=cfg.synth_max_tokens,
            vllm_url=cfg.vllm_url,
            served_name=cfg.served_name,
            model_dir=cfg.model_dir,
            vllm_venv=cfg.vllm_venv,
            skip_hf=cfg.synth_skip_hf,
        )
    )


def _learn(cfg: AllBenchConfig, vllm: SharedVllm) -> dict[str, Any]:
    from bench.learn import run_learn
    from bench.learn_config import LearnBenchConfig

    return run_learn(
        LearnBenchConfig.make(
            cfg.learn_quick,
            out=cfg.out / "learn",
            rounds=cfg.learn_rounds,
            model_dir=cfg.model_dir,
            vllm_venv=cfg.vllm_venv,
            served_name=cfg.served_name,
            vllm_url=None if cfg.learn_quick else vllm.url(),
        )
    )


def plan(
    cfg: AllBenchConfig, vllm: SharedVllm
) -> list[tuple[Benchmark, str, str, Callable[[], dict[str, Any]]]]:
    """(benchmark, run name, JSON file name, thunk) in run order."""
    steps: list[tuple[Benchmark, str, str, Callable[[], dict[str, Any]]]] = [
        ("extract", "extract", "extract.json", lambda: _extract(cfg)),
        ("stream", "stream", "stream.json", lambda: _stream(cfg)),
        ("soak", "soak", "soak.json", lambda: _soak(cfg)),
    ]
    for backend, split in cfg.quality_runs():
        steps.append(
            (
                "quality",
                f"quality {backend}/{split}",
                f"quality_{backend}_{split}.json",
                partial(_quality, cfg, vllm, backend, split),
            )
        )
    steps.append(("learn", "learn", "learn.json", lambda: _learn(cfg, vllm)))
    steps.append(("synth", "synth", "synth.json", lambda: _synth(cfg, vllm)))
    return steps


def attempt(name: str, file: str, out: Path, thunk: Callable[[], dict[str, Any]]) -> RunRecord:
    """Run one benchmark and write its JSON; an exception becomes the record's error."""
    log.info("bench all: %s", name)
    started = time.perf_counter()
    try:
        result = thunk()
        (out / file).write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    except Exception as exc:  # one failed benchmark does not stop the others
        log.exception("bench all: %s failed", name)
        return RunRecord(name, file, "failed", time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
    return RunRecord(name, file, "ok", time.perf_counter() - started)


def load_results(out: Path, records: list[RunRecord]) -> dict[str, dict[str, Any]]:
    """The JSON of every run that succeeded, by file name."""
    return {r.file: json.loads((out / r.file).read_text()) for r in records if r.status == "ok" and r.file}


def draw_plots(out: Path, results: Mapping[str, Mapping[str, Any]]) -> dict[str, str | None]:
    """Each plot file name -> None when drawn, else the error (a plot failure stops no other plot)."""
    quality = {
        f"{q.get('backend')} · {q.get('split')}": q for k, q in results.items() if k.startswith("quality_")
    }
    drawers: dict[str, Callable[[Path], Path]] = {
        "throughput.png": lambda p: throughput_png(
            p, results.get("extract.json"), results.get("synth.json"), results.get("stream.json")
        ),
        "latency.png": lambda p: latency_png(p, results.get("stream.json"), results.get("soak.json")),
        "quality.png": lambda p: quality_png(p, quality),
    }
    done: dict[str, str | None] = {}
    for name in PLOTS:
        try:
            drawers[name](out / name)
            done[name] = None
        except Exception as exc:
            log.exception("bench all: plot %s failed", name)
            done[name] = f"{type(exc).__name__}: {exc}"
    return done


def write_report(out: Path, records: list[RunRecord], machine: dict[str, Any]) -> Path:
    """Plots, summary.json and report.md from the JSON files the records name."""
    results = load_results(out, records)
    plots = draw_plots(out, results)
    write_summary(out, records, machine, plots)
    path = out / "report.md"
    path.write_text(render_report(records, machine, results, plots), encoding="utf-8")
    return path


def run_all(config: AllBenchConfig) -> list[RunRecord]:
    """Every benchmark not skipped, each JSON into `config.out`, then the plots and report.md."""
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    records: list[RunRecord] = []
    vllm = SharedVllm(config)
    try:
        for bench, name, file, thunk in plan(config, vllm):
            if not config.runs(bench):
                records.append(RunRecord(name, None, "skipped", error="skipped (--skip)"))
                continue
            records.append(attempt(name, file, out, thunk))
    finally:
        vllm.stop()
    machine["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    report = write_report(out, records, machine)
    log.info("bench all: report in %s", report)
    return records
