"""`tailor train --once` through the real broker: candidate groups from the examples and rejected topics,
a real DPO round on SmolLM2 (LoRA, CPU), and the gate on every case of the held-out benchmark split."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.store import DEFAULT_CASES_DIR, read_version
from core.records import Example, Feedback, RejectedExample
from streaming.intent_publish import IntentRequest, publish_intent
from streaming.producer import TailorProducer
from streaming.replay.runner import replay
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from tests.conftest import REPO, WorkerProcess, settings_env
from tests.kafka_helpers import consume
from trainer.heldout import HeldoutRecordings

MODEL = REPO / ".cache/models/SmolLM2-135M-Instruct"


@pytest.mark.slow
@pytest.mark.timeout(1500)  # about 11 minutes on the 2-core machine: the gate scores every heldout case twice
def test_train_once_builds_pairs_from_the_topics_and_gates(
    settings: TailorSettings, worker: WorkerProcess, shared_dir: Path
) -> None:
    if not (MODEL / "manifest.json").exists():
        pytest.skip("the model cache is missing (run `make setup`)")
    assert settings.kafka_bootstrap
    publish_intent(settings, IntentRequest(text="next subtask data", domain="robot", task="next_subtask"))
    replay(
        settings,
        ReplayConfig(
            paths=[shared_dir / "data/robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001"],
            rate=0,
            progress=False,
        ),
    )
    accepted = [
        Example.from_bytes(m.value)
        for m in consume(settings, settings.topic_examples, timeout_s=120, idle_s=6)
    ]
    held = (
        HeldoutRecordings.load().keys
    )  # window id = domain:key:seq; the benchmark's heldout episodes are not
    trainable = [
        e
        for e in accepted
        if (e.window_id.split(":", 1)[0], e.window_id.split(":", 1)[1].rsplit(":", 1)[0]) not in held
    ]
    assert len(trainable) >= 4 and len(trainable) < len(accepted)
    # a weaker second candidate for four windows: the rejected side of a preference pair
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as p:
        for e in trainable[:4]:
            out = json.loads(e.output_json)
            p.send(
                RejectedExample(
                    example_id=e.example_id + "-x",
                    task_family=e.task_family,
                    window_id=e.window_id,
                    reasons=["frame_out_of_window"],
                    raw_output=json.dumps(out)[: len(e.output_json) // 2],
                    model="test",
                    intent_id=e.intent_id,
                    rewards={"r_format": 0.0, "r_anchor": 0.0, "r_eff": 0.0, "r_total": 0.0},
                    created_at=time.time(),
                )
            )
    # the worker here writes with the rules backend, so the round is told to pair rules outputs too (by default
    # it pairs model outputs only; tests/trainer/test_preferences.py checks that choice)
    env = settings_env(
        settings.model_copy(
            update={
                "model_dir": MODEL,
                "train_max_steps": 2,
                "pair_sources": "all",
                "gate_max_new_tokens": 8,
                "gate_margin": 10.0,
                "probe_examples": 4,
            }
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "train", "--once"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Every heldout case is scored with both weights. 8 tokens never finish a JSON output, so both score 0 on
    # every case: a tie, which is never published, whatever the margin.
    cases = read_version(DEFAULT_CASES_DIR).splits["heldout"]
    assert "round (dpo): refused" in proc.stdout and "tie:" in proc.stdout, proc.stdout
    assert f"over {cases} cases" in proc.stdout, proc.stdout
    # the downstream student probe trained on a batch of 4 accepted examples and reported its held-out loss drop
    (probed,) = [
        f
        for f in (
            Feedback.from_bytes(m.value)
            for m in consume(settings, settings.topic_feedback, timeout_s=30, idle_s=3)
        )
        if f.source == "student_probe"
    ]
    assert (
        probed.kind == "batch_metric"
        and probed.metric == "heldout_loss_drop"
        and len(probed.example_ids) == 4
    )
    assert set(probed.example_ids) <= {e.example_id for e in trainable} and probed.value is not None


def test_malformed_feedback_is_dead_lettered_with_its_offset(settings: TailorSettings) -> None:
    from kafka import KafkaProducer

    from app.trainer_service import read_feedback
    from core.records import DeadLetter, Feedback
    from streaming.kafka_clients import kafka_python_kwargs
    from streaming.topics import ensure_topics

    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    good = Feedback(
        feedback_id="f1", kind="example_utility", example_ids=["e1"], utility=0.5, created_at=time.time()
    )
    p = KafkaProducer(**kafka_python_kwargs(settings, settings.kafka_bootstrap))
    p.send(settings.topic_feedback, key=b"f1", value=good.to_bytes(), partition=0)
    p.send(settings.topic_feedback, key=b"f2", value=b'{"schema_version": 1, "kind": "vibes"}', partition=0)
    p.flush()
    assert [f.feedback_id for f in read_feedback(settings)] == ["f1"]
    (letter,) = [DeadLetter.from_bytes(m.value) for m in consume(settings, settings.topic_dlq, count=1)]
    assert letter.reason == "schema_mismatch" and letter.source_offset == 1 and letter.stage == "feedback"
