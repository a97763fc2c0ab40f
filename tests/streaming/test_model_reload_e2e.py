"""Publish → announce → hot reload through the real broker and a live worker; a tampered version is
refused (dead-lettered with its reason) and the worker keeps the weights it had; rollback re-announces.
The trainer signs (Ed25519) and the worker holds the public key: an old update re-sent with a later
created_at, and an unsigned one, are dead-lettered (issue 20 item 6)."""

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
def settings(settings: TailorSettings, tmp_path: Path) -> TailorSettings:  # type: ignore[override]
    from trainer.signing import write_keypair

    if not (MODEL / "manifest.json").exists():
        pytest.skip("the model cache is missing (run `make setup`)")
    private, public = write_keypair(tmp_path / "keys")
    return settings.model_copy(
        update={
            "synth_backend": "hf",
            "model_dir": MODEL,
            "model_signing_key_file": private,  # the test and the CLI publish as the trainer
            "model_verify_key_file": public,  # the worker's key
        }
    )


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
    from trainer.signing import UpdateKeys
    from trainer.store import ModelStore

    assert settings.kafka_bootstrap
    store = ModelStore(model_store_root(settings), keys=UpdateKeys.from_config(settings))
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
    assert store.current() is not None and store.current().seq == 3
    deadline = time.monotonic() + 60  # updates of other versions may sit on other partitions: wait for it
    while "rollback of v2" not in worker.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "rollback of v2" in worker.log_path.read_text()

    # whoever can write the topic: v2's (valid, signed) announcement re-sent with a future clock is older
    # than the rollback in the store's order; a record without a store sequence is unsigned
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as p:
        p.send(v2.model_copy(update={"created_at": time.time() + 1e6}))
        p.send(v1.model_copy(update={"seq": None}))
    letters = [
        DeadLetter.from_bytes(m.value) for m in consume(settings, settings.topic_dlq, count=3, timeout_s=60)
    ]
    reasons = [d.reason for d in letters]  # the two were keyed to different partitions: any order
    assert reasons[0] == "hash_mismatch" and sorted(reasons[1:]) == ["stale_update", "unsigned_update"]
    assert worker.metric("tailor_model_version_info", version=v1.version) == 1.0
    assert worker.proc.poll() is None
