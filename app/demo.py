"""`tailor demo`: the main job on the embedded default, with the bundled real samples.

Starts the embedded broker (unless TAILOR_KAFKA_BOOTSTRAP is set) and, for the vLLM backend, the CPU
vLLM server (unless TAILOR_VLLM_URL is set); runs a worker (`tailor up`) as a child process; publishes
the demo intents (one vague); replays the real robot episodes, GUI trajectories, a real video and a
GNOME screen recording; waits until every record went through windows, anchors, synthesis and the
Parquet sink; prints the summaries; stops everything.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from app.demo_config import DemoConfig
from app.demo_inputs import AITW, demo_inputs
from app.demo_summary import render_anchor_summary, render_example_summary
from app.demo_wait import wait_settled
from app.status import collect_status, render_status
from core.ports import free_port
from core.records import AnchorSet, Example, RejectedExample
from streaming.broker import die_with_parent
from streaming.intent_publish import IntentRequest, publish_intent
from streaming.replay.runner import replay
from streaming.replay.runner_config import ReplayConfig
from streaming.runtime import owned_cluster
from streaming.settings import TailorSettings
from streaming.sink_stage import examples_root
from streaming.topic_reader import read_topic
from streaming.topics import ensure_topics
from streaming.window_store import changelog_topic

log = logging.getLogger(__name__)


def demo_intents(config: DemoConfig, inputs: list[Path]) -> tuple[tuple[str, str | None], ...]:
    """The intents to publish (the quick run keeps the robot one, and the GUI one when it replays the AITW
    episode in Mind2Web's place)."""
    if not config.quick:
        return config.intents
    kept = tuple(i for i in config.intents if i[1] == "robot") or config.intents[:1]
    if any(p.name == AITW.name for p in inputs):
        kept += tuple(i for i in config.intents if i[1] in (None, "gui") and i not in kept)[:1]
    return kept


def _worker_env(settings: TailorSettings, port: int, config: DemoConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TAILOR_SYNTH_CANDIDATES", str(config.candidates))
    env.setdefault("TAILOR_SYNTH_MAX_TOKENS", str(config.max_tokens))
    env["TAILOR_KAFKA_BOOTSTRAP"] = str(settings.kafka_bootstrap)
    env["TAILOR_METRICS_PORT"] = str(port)
    env["TAILOR_DATA_DIR"] = str(settings.data_dir)
    env["TAILOR_SYNTH_BACKEND"] = settings.synth_backend
    if settings.vllm_url:
        env["TAILOR_VLLM_URL"] = settings.vllm_url
    if settings.model_store_uri:
        env["TAILOR_MODEL_STORE_URI"] = settings.model_store_uri
    return env


def _start_model(settings: TailorSettings, stack: ExitStack) -> TailorSettings:
    if settings.synth_backend != "vllm" or settings.vllm_url:
        return settings
    from agents.vllm_server import VllmServer
    from agents.vllm_server_config import VllmServerConfig, lora_rank_slot
    from trainer.train_config import LoraSettings

    server = stack.enter_context(
        VllmServer(
            VllmServerConfig(
                venv=settings.vllm_venv,
                model_dir=settings.model_dir,
                served_model_name=settings.vllm_model,
                dtype=settings.model_dtype,
                start_timeout_s=settings.vllm_start_timeout_s,
                start_quiet_s=settings.vllm_start_quiet_s,
                # it serves only the adapters the demo trains: their rank (decoding time, docs/learning.md "Gate")
                max_lora_rank=lora_rank_slot(LoraSettings().rank),
            )
        )
    )
    return settings.model_copy(update={"vllm_url": server.base_url})


def _learning(
    live: TailorSettings, config: DemoConfig, port: int, worker: subprocess.Popen[bytes], inputs: list[Path]
) -> list[str]:
    from app.demo_learning import learn_and_replay

    try:
        return learn_and_replay(live, config, port, worker, inputs)
    except Exception as exc:  # the demo reports a failed segment instead of hiding the rest of its results
        log.exception("learning segment failed")
        return [f"learning segment failed: {type(exc).__name__}: {exc}"]


def _own_model_store(settings: TailorSettings) -> TailorSettings:
    """A model store of this run (unless TAILOR_MODEL_STORE_URI names one): versions published by an earlier
    demo would otherwise be the gate's current weights while the new worker serves the base model."""
    if settings.model_store_uri:
        return settings
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return settings.model_copy(
        update={"model_store_uri": str((settings.data_dir / "demo-models" / stamp).resolve())}
    )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(143)


def run_demo(settings: TailorSettings, config: DemoConfig) -> int:
    # SIGTERM unwinds like Ctrl-C: the finally blocks stop the worker, the vLLM server and the broker
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    started = time.monotonic()
    inputs = demo_inputs(config)
    print("demo inputs:", ", ".join(map(str, inputs)), flush=True)
    with ExitStack() as stack:
        live = stack.enter_context(owned_cluster(settings))
        assert live.kafka_bootstrap
        ensure_topics(
            live,
            live,
            live.kafka_bootstrap,
            extra_compacted=(changelog_topic(live),),
            max_message_bytes=live.max_message_bytes,
        )
        live = _own_model_store(_start_model(live, stack))
        for text, domain in demo_intents(config, inputs):
            print("intent:", publish_intent(live, IntentRequest(text=text, domain=domain)))
        port = free_port()
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "up"],
            env=_worker_env(live, port, config),
            preexec_fn=die_with_parent,
        )
        try:
            result = replay(live, ReplayConfig(paths=inputs, rate=config.rate, progress=sys.stderr.isatty()))
            log.info("replayed %d records from %d sources", result.published, result.sources)
            for skipped in result.skipped:  # the other recordings were replayed in full
                print(f"demo: {skipped}", file=sys.stderr, flush=True)
            settled = wait_settled(live, port, worker, config.wait_seconds)
            render_status(collect_status(live, dead_letters=10))
            render_anchor_summary(read_topic(live, live.topic_anchors, AnchorSet))
            render_example_summary(
                read_topic(live, live.topic_examples, Example),
                read_topic(live, live.topic_rejected, RejectedExample),
                str(examples_root(live)),
            )
            if settled and config.learn and live.synth_backend == "rules":
                print("learning: skipped (the rules backend serves no model to train)")
            elif settled and config.learn:
                for line in _learning(live, config, port, worker, inputs):
                    print(line)
            print(
                f"demo: published {result.published} records; settled={settled}; backend={live.synth_backend}; "
                f"{time.monotonic() - started:.0f}s"
            )
            return 0 if settled else 1
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
