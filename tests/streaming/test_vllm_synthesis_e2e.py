"""The vLLM backend end to end: a real CPU `vllm serve` with SmolLM2-135M-Instruct, the real broker and
a live worker, from replay to the examples topic, the rejected topic and the Parquet files."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.tasks.catalog import families
from core.records import Example, RejectedExample
from streaming.intent_publish import IntentRequest, publish_intent
from streaming.replay.runner import replay
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from tests.conftest import REPO, WorkerProcess, settings_env
from tests.kafka_helpers import consume
from tests.streaming.test_synthesis_e2e import parquet_ids


@pytest.fixture
def settings(settings: TailorSettings, smol_vllm: str) -> TailorSettings:  # type: ignore[override]
    return settings.model_copy(
        update={
            "synth_backend": "vllm",
            "vllm_url": smol_vllm,
            "synth_candidates": 2,
            "synth_max_tokens": 256,
            "intent_model_enabled": True,
        }
    )


def test_vllm_backend_from_replay_to_topics_and_parquet(
    settings: TailorSettings, worker, shared_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    publish_intent(
        settings, IntentRequest(text="GUI action extraction data", domain="gui", task="gui_action_extraction")
    )
    replay(
        settings,
        ReplayConfig(
            paths=[shared_dir / "data/gui/aitw", shared_dir / "data/gui/mind2web"], rate=0, progress=False
        ),
    )
    # 2 sessions x 2 candidates: each candidate lands on exactly one of the two topics, except a repeat of
    # its group's other candidate (constrained decoding leaves little free text): counted, never emitted twice
    accepted = [
        Example.from_bytes(m.value)
        for m in consume(settings, settings.topic_examples, timeout_s=240, idle_s=10)
    ]
    rejected = [
        RejectedExample.from_bytes(m.value)
        for m in consume(settings, settings.topic_rejected, timeout_s=30, idle_s=5)
    ]
    duplicates = worker.metric(
        "tailor_examples_total", task_family="gui_action_extraction", result="duplicate"
    )
    # a candidate cut at the budget is asked for again and stays in its group too (test_vllm_loop_retry.py)
    again = worker.metric("tailor_synthesis_loop_retries_total", backend="vllm")
    assert len(accepted) + len(rejected) + duplicates == 4 + again, (accepted, rejected, duplicates, again)
    assert len(accepted) + len(rejected) >= 2  # one per group at least
    ids = [e.example_id for e in accepted] + [r.example_id for r in rejected]
    assert len(set(ids)) == len(ids)
    family = {f.name: f for f in families()}["gui_action_extraction"]
    for e in accepted:
        assert e.model == "smollm2" and e.prompt_sha256 and e.rewards["r_format"] == 1.0
        family.parse(e.output_json)
    for r in rejected:
        assert r.reasons and r.model == "smollm2" and r.raw_output is not None
    root = settings.data_dir / "examples"
    deadline = time.monotonic() + 60
    while len(parquet_ids(root)) < len(accepted) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert sorted(parquet_ids(root)) == sorted(
        e.example_id for e in accepted
    )  # malformed output never reaches the sink
    assert worker.metric("tailor_synthesis_tokens_total", backend="vllm") > 0


def test_tailor_intent_shows_the_families_the_worker_parses(
    settings: TailorSettings, worker: WorkerProcess
) -> None:
    # the worker asks the served model to add families (intent_model_enabled); the CLI must show that parse,
    # not the rules' alone: the rules give only tutorial for this request, SmolLM2 (temperature 0) adds
    # gui_action_extraction, so a CLI that showed the rules' parse printed "-> tutorial ... by rules"
    text = "how to open an editor and type text"
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "intent", text, "--domain", "gui"],
        env=settings_env(settings),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    shown = re.search(
        r"^(i-\w+) \[active\] .* -> ([a-z_, ]+) \(domain=.*, by ([a-z+]+)\)", proc.stdout, re.MULTILINE
    )
    assert shown, proc.stdout
    intent_id, families_shown, by = shown.groups()
    parsed = re.compile(rf"intent {intent_id} \(([a-z+]+)\): ([a-z_, ]+)")
    deadline = time.monotonic() + 60
    while (found := parsed.search(worker.log())) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert found, worker.log()[-2000:]
    assert (found.group(1), found.group(2).strip()) == (by, families_shown.strip())
    assert by == "rules+model" and families_shown.startswith("tutorial, ")
