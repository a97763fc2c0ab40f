"""The `tailor` command. Each command parses its arguments into a config and calls one function."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from app.bench_cli import bench
from app.blobs_cli import blobs
from app.cli_common import fail as _fail
from app.cli_common import settings_or_exit as _settings
from app.dataset_cli import audit, dataset, ui
from app.export_command import export
from app.feedback_cli import feedback

if TYPE_CHECKING:
    from agents.vllm_server import VllmServerError
    from streaming.settings import TailorSettings


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
    hint = _VLLM_HINTS.get(exc.reason, "").format(
        timeout=settings.vllm_start_timeout_s, quiet=settings.vllm_start_quiet_s
    )
    tries = "; ".join(
        t
        for t in (
            hint,
            "TAILOR_SYNTH_BACKEND=rules runs without a model",
            "TAILOR_VLLM_URL uses a running server",
        )
        if t
    )
    click.echo(f"tailor: the vLLM server did not start: {exc.summary()}. Try: {tries}", err=True)
    sys.exit(1)


class _Tailor(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        from core.plugins import PluginError

        try:
            return super().invoke(ctx)
        except PluginError as exc:  # an installed plug-in that cannot be used: one line naming it, exit 1
            _fail(exc)
            raise  # not reached: _fail exits


@click.group(cls=_Tailor, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tailor", prog_name="tailor")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A TOML file of settings (names without TAILOR_, optionally grouped in tables); environment "
    "variables and .env win over it.",
)
def main(config_file: Path | None) -> None:
    """Tailor: raw multimodal streams in, tailored training examples out."""
    if config_file is not None:  # through the environment, so child processes (the demo's worker) read it too
        from streaming.settings import CONFIG_FILE_VARIABLE

        os.environ[CONFIG_FILE_VARIABLE] = str(config_file.resolve())


@main.command()
def up() -> None:
    """Run the worker service (Faust agents + /metrics) until stopped."""
    from agents.vllm_server import VllmServerError
    from app.service import run_service

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
    from app.status import collect_status, render_status
    from streaming.runtime import NoBrokerError, resolve_bootstrap

    try:
        settings = resolve_bootstrap(_settings())
    except NoBrokerError as exc:
        _fail(exc)
    render_status(collect_status(settings, dead_letters))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(["video", "gui", "robot"]),
    default=None,
    help="Input kind; detected if unset.",
)
@click.option(
    "--rate",
    type=float,
    default=1.0,
    show_default=True,
    help="Speed-up of the original timing (0 = as fast as possible).",
)
@click.option("--loop", is_flag=True, help="Replay again and again until stopped.")
@click.option("--segment-seconds", type=float, default=2.0, show_default=True, help="Video segment length.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A TOML file, or a preset (bridge, umi), naming which ROS bag topics, RLDS features or LeRobot "
    "columns are cameras, state, action and instruction (docs/formats/mapping.md); without it each "
    "format's defaults.",
)
@click.option(
    "--licence",
    default=None,
    help="Licence of the recordings (SPDX id or terms), carried into each example's provenance; "
    "unset: known samples get theirs, others none.",
)
def replay(
    paths: tuple[Path, ...],
    kind: str | None,
    rate: float,
    loop: bool,
    segment_seconds: float,
    no_progress: bool,
    mapping: Path | None,
    licence: str | None,
) -> None:
    """Publish recorded files (video, GUI trajectories, robot episodes, ROS bags) as live streams."""
    from streaming.replay.runner import replay as run_replay
    from streaming.replay.runner_config import ReplayConfig
    from streaming.runtime import NoBrokerError, resolve_bootstrap

    try:
        settings = resolve_bootstrap(_settings())
        config = ReplayConfig(
            paths=list(paths),
            kind=kind,
            rate=rate,
            loop=loop,
            segment_seconds=segment_seconds,
            progress=not no_progress,
            mapping=mapping,
            licence=licence,
        )
        result = run_replay(settings, config)
    except (NoBrokerError, ValueError) as exc:
        _fail(exc)
    click.echo(f"published {result.published} records from {result.sources} sources in {result.seconds:.1f}s")
    if result.skipped:
        # Listed last so they are not lost in the log; non-zero so a script sees the replay was partial.
        for skipped in result.skipped:
            click.echo(f"tailor: {skipped}", err=True)
        click.echo(f"tailor: {len(result.skipped)} recording(s) not replayed in full", err=True)
        sys.exit(1)


@main.command()
@click.argument("text")
@click.option(
    "--domain", type=click.Choice(["video", "gui", "robot"]), default=None, help="Only this input domain."
)
@click.option("--task", default=None, help="A task family by name (see `tailor intents --families`).")
@click.option("--budget", type=int, default=None, help="Most examples to produce for this intent.")
@click.option(
    "--id", "intent_id", default=None, help="Intent id (default: derived from the text and options)."
)
@click.option("--retire", is_flag=True, help="Retire the intent with this id / text.")
def intent(
    text: str, domain: str | None, task: str | None, budget: int | None, intent_id: str | None, retire: bool
) -> None:
    """Publish an intent (what data to make) to the compacted intents topic."""
    from streaming.intent_publish import IntentRequest, publish_intent
    from streaming.runtime import NoBrokerError, resolve_bootstrap

    try:
        settings = resolve_bootstrap(_settings())
        parsed = publish_intent(
            settings,
            IntentRequest(
                text=text, domain=domain, task=task, budget=budget, intent_id=intent_id, active=not retire
            ),
        )
    except (NoBrokerError, ValueError) as exc:
        _fail(exc)
    click.echo(parsed)


@main.command()
@click.option("--families", "list_families", is_flag=True, help="List the task families and their domains.")
def intents(list_families: bool) -> None:
    """Show the active intents and the task specs they parse into."""
    from app.intents_cli import show_intents
    from streaming.runtime import NoBrokerError, resolve_bootstrap

    try:
        settings = _settings() if list_families else resolve_bootstrap(_settings())
    except NoBrokerError as exc:
        _fail(exc)
    show_intents(settings, list_families)


@main.command()
@click.option(
    "--window", "window_id", default=None, help="One window's anchors and key frames, by window id."
)
@click.option("--stream", default=None, help="Every window of one stream, session or episode (its key).")
def anchors(window_id: str | None, stream: str | None) -> None:
    """Show windows' anchors and key frames from the anchors topic (all windows: one line each)."""
    from app.anchors_cli import show_anchors
    from streaming.runtime import NoBrokerError, resolve_bootstrap

    try:
        settings = resolve_bootstrap(_settings())
    except NoBrokerError as exc:
        _fail(exc)
    if show_anchors(settings, window_id, stream) == 0:
        click.echo("tailor: no window on the anchors topic matches", err=True)
        sys.exit(1)


@main.command()
@click.option(
    "--intent", "intent_ids", multiple=True, help="Only this intent (repeatable; default: every active one)."
)
@click.option("--window", "window_id", default=None, help="Only this window (by window id).")
@click.option("--stream", default=None, help="Only the windows of this stream, session or episode (its key).")
def reprocess(intent_ids: tuple[str, ...], window_id: str | None, stream: str | None) -> None:
    """Apply intents to the windows already on the anchors topic, without replaying their recordings."""
    import asyncio

    from streaming.reprocess import ReprocessError, reprocess_async
    from streaming.runtime import NoBrokerError, resolve_bootstrap

    try:
        settings = resolve_bootstrap(_settings())
        result = asyncio.run(reprocess_async(settings, list(intent_ids) or None, window_id, stream))
    except (NoBrokerError, ReprocessError) as exc:
        _fail(exc)
    p = result.published
    click.echo(
        f"reprocessed {result.windows} window(s) for {', '.join(result.intents)} in {result.seconds:.1f} s: "
        f"{p[settings.topic_examples]} example(s), {p[settings.topic_rejected]} rejected, "
        f"{p[settings.topic_skips]} family skip(s), {p[settings.topic_dlq]} dead letter(s)"
    )


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("docs"), show_default=True)
def schemas(out: Path) -> None:
    """Write the JSON Schemas of every record and the AsyncAPI document."""
    from app.schemas import write_schemas

    for path in write_schemas(_settings(), out):
        click.echo(str(path))


@main.command()
@click.option(
    "--seconds", type=float, default=900.0, show_default=True, help="Longest wait for the pipeline to settle."
)
@click.option(
    "--quick",
    is_flag=True,
    help="Bridge + Mind2Web and the robot intent only (without ../shared: the AITW sample and the GUI intent "
    "too); a short run for tests.",
)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("../shared"),
    show_default=True,
    help="Folder laid out like ../shared (data/robot, data/gui); recordings it lacks come from samples/.",
)
def demo(seconds: float, quick: bool, data: Path) -> None:
    """Run the main job on the embedded default with the bundled real samples."""
    from agents.vllm_server import VllmServerError
    from app.demo import run_demo
    from app.demo_config import DemoConfig
    from app.demo_inputs import DemoInputsMissing

    settings = _settings()
    try:
        code = run_demo(settings, DemoConfig(wait_seconds=seconds, quick=quick, shared_dir=data))
    except VllmServerError as exc:
        _vllm_start_failed(exc, settings)
    except DemoInputsMissing as exc:
        _fail(exc)
    sys.exit(code)


@main.command()
@click.option(
    "--once", is_flag=True, required=True, help="Run one round now (the service is `tailor trainer`)."
)
@click.option(
    "--method", type=click.Choice(["dpo", "grpo", "sft"]), default=None, help="Override TAILOR_TRAIN_METHOD."
)
@click.option("--sft", is_flag=True, help="The supervised warm start on validated examples (= --method sft).")
def train(once: bool, method: str | None, sft: bool) -> None:
    """One training round: candidates + feedback → preference RL (or SFT) → gate → publish and announce."""
    from app.trainer_service import describe_round, run_train_once
    from streaming.runtime import NoBrokerError, resolve_bootstrap

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
    from app.trainer_service import run_trainer_service
    from streaming.runtime import NoBrokerError, resolve_bootstrap

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
    from app.trainer_service import rollback
    from streaming.runtime import NoBrokerError, resolve_bootstrap

    try:
        settings = resolve_bootstrap(_settings())
        update = rollback(settings, version)
    except (NoBrokerError, ValueError) as exc:
        _fail(exc)
    click.echo(f"announced {update.version} (rollback of {update.rollback_of})")


@main.group("config")
def config_group() -> None:
    """The settings Tailor runs with."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of NAME=value lines.")
def config_show(as_json: bool) -> None:
    """Print the effective settings (environment over defaults), secrets masked (a TAILOR_* variable that is
    not a setting is warned about at start, as in every command)."""
    import json

    from streaming.settings import effective_settings

    values = effective_settings(_settings())
    if as_json:
        click.echo(json.dumps(values, indent=2, sort_keys=True))
    else:
        for name, value in sorted(values.items()):
            click.echo(f"{name}={value if isinstance(value, str) else json.dumps(value)}")


main.add_command(bench)
main.add_command(blobs)
main.add_command(export)
main.add_command(dataset)
main.add_command(ui)
main.add_command(audit)
main.add_command(feedback)


if __name__ == "__main__":
    main()
