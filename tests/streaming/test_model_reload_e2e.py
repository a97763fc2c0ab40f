"""Publish → announce → hot reload through the real broker and a live worker; a tampered version is
refused (dead-lettered with its reason) and the worker keeps the weights it had; rollback re-announces."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.records import DeadLetter
from streaming.producer import TailorProducer
from streaming.reload_stage import model_store_root
from streaming.settings import TailorSettings
from tests.conftest import REPO, WorkerProcess, settings_env
from tests.kafka_helpers import consume
from tests.trainer.test_store import make_adapter

MODEL = REPO / ".cache/models/SmolLM2-135M-Instruct"


@pytest.fixture
def settings(settings: TailorSettings) -> TailorSettings:  # type: ignore[override]
    if not (MODEL / "manifest.json").exists():
        pytest.skip("the model cache is missing (run `make setup`)")
    return settings.model_copy(update={"synth_backend": "hf", "model_dir": MODEL})


def wait_metric(worker: WorkerProcess, name: str, timeout: float = 60, **labels: str) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = worker.metric(name, **labels)
        if value:
            return value
        time.sleep(0.5)
    return 0.0


def test_publish_announce_reload_refuse_and_rollback(
    settings: TailorSettings, worker: WorkerProcess, tmp_path: Path
) -> None:
    from trainer.store import ModelStore

    assert settings.kafka_bootstrap
    store = ModelStore(model_store_root(settings))
    v1 = store.publish(
        make_adapter(MODEL, tmp_path / "a1", 1), "SmolLM2-135M-Instruct", {"s_total": 0.2}, ["e1"]
    )
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as p:
        p.send(v1)
    assert wait_metric(worker, "tailor_model_version_info", version=v1.version) == 1.0

    v2 = store.publish(
        make_adapter(MODEL, tmp_path / "a2", 2), "SmolLM2-135M-Instruct", {"s_total": 0.3}, ["e2"]
    )
    weights = store.resolve(v2) / "adapter_model.safetensors"
    published = Path(str(v2.uri).removeprefix("file://"))
    target = published if published.exists() else weights
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # tamper with the published file
    target.write_bytes(bytes(data))
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as p:
        p.send(v2)
    letters = [
        DeadLetter.from_bytes(m.value) for m in consume(settings, settings.topic_dlq, count=1, timeout_s=60)
    ]
    assert [d.reason for d in letters] == ["hash_mismatch"]
    assert worker.metric("tailor_model_version_info", version=v1.version) == 1.0
    assert worker.metric("tailor_model_version_info", version=v2.version) == 0.0
    assert worker.proc.poll() is None

    # roll back to v1 with the CLI: the worker takes it up again without stopping
    env = settings_env(settings)
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "model", "rollback", v1.version],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert f"announced {v1.version}" in out.stdout
