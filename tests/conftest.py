"""Shared fixtures: the real Tansu broker (session-wide), the shared data folder, a worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.ports import free_port
from streaming.broker import EmbeddedBroker
from streaming.broker_config import BrokerConfig
from streaming.settings import TailorSettings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"the shared data folder {SHARED} is absent (it holds the real robot and GUI samples)")
    return SHARED


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real Kafka-protocol broker: TAILOR_TEST_KAFKA_BOOTSTRAP if set, else the embedded Tansu."""
    external = os.environ.get("TAILOR_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    with EmbeddedBroker(BrokerConfig()) as bootstrap:
        yield bootstrap


SMOL_SERVED = "smollm2"  # the workers' default TAILOR_VLLM_MODEL


@pytest.fixture(scope="session")
def smol_vllm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One vLLM CPU server of the real SmolLM2 (LoRA enabled) for the tests that only ask it for completions or
    load an adapter under a name of their own: each start costs about 30 s on 2 cores. Tests of the server's own
    start and stop keep their own servers. Yields the base URL."""
    venv, model = REPO / ".venv-vllm", REPO / ".cache/models/SmolLM2-135M-Instruct"
    if not (venv / "bin/python").exists() or not (model / "manifest.json").exists():
        pytest.skip("the vLLM environment or the model cache is missing (run `make setup`)")
    from agents.vllm_server import VllmServer
    from agents.vllm_server_config import VllmServerConfig

    config = VllmServerConfig(
        venv=venv,
        model_dir=model,
        served_model_name=SMOL_SERVED,
        log_file=tmp_path_factory.mktemp("vllm-shared") / "server.log",
    )
    with VllmServer(config) as server:
        assert server.base_url
        yield server.base_url


@pytest.fixture
def topic_prefix() -> str:
    """Unique topic names per test, so tests sharing the session broker never see each other's data."""
    return f"t{uuid.uuid4().hex[:8]}"


def topic_env(prefix: str) -> dict[str, str]:
    names = {
        "RAW_VIDEO": "raw.video",
        "RAW_GUI": "raw.gui",
        "RAW_ROBOT": "raw.robot",
        "INTENTS": "intents",
        "ANCHORS": "anchors",
        "EXAMPLES": "examples",
        "REJECTED": "examples.rejected",
        "FEEDBACK": "feedback",
        "MODEL_UPDATES": "model.updates",
        "DLQ": "dlq",
        "SKIPS": "skips",
    }
    return {f"TAILOR_TOPIC_{k}": f"{prefix}.{v}" for k, v in names.items()}


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> TailorSettings:
    overrides = {k.removeprefix("TAILOR_").lower(): v for k, v in topic_env(topic_prefix).items()}
    return TailorSettings(
        kafka_bootstrap=kafka_bootstrap,
        app_id=f"{topic_prefix}-app",
        data_dir=tmp_path / "data",
        partitions=2,
        window_grace_s=0.5,
        window_gap_s=2.0,
        window_sweep_interval_s=0.5,
        synth_backend="rules",
        synth_batch_window_s=0.3,
        sink_flush_s=0.5,
        **overrides,
    )


def settings_env(s: TailorSettings) -> dict[str, str]:
    """The environment that makes a child `tailor` process see the same settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAILOR_")}
    for name, value in s.model_dump(mode="json").items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, dict)):  # the nested groups (tasks, extractors) as JSON too
            import json

            value = json.dumps(value)
        env[f"TAILOR_{name.upper()}"] = str(value)
    for name in type(s).model_fields:  # secrets dump as stars: pass their values
        value = getattr(s, name)
        if isinstance(value, SecretStr):
            env[f"TAILOR_{name.upper()}"] = value.get_secret_value()
    if s.tenant_keys:  # a dict of secrets, not a secret
        import json

        env["TAILOR_TENANT_KEYS"] = json.dumps({t: k.get_secret_value() for t, k in s.tenant_keys.items()})
    return env


class WorkerProcess:
    def __init__(self, proc: subprocess.Popen[bytes], metrics_port: int, log_path: Path) -> None:
        self.proc = proc
        self.metrics_port = metrics_port
        self.log_path = log_path

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            return resp.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        total = 0.0
        for line in self.metrics_text().splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_worker_process(
    settings: TailorSettings, log_path: Path, argv: tuple[str, ...] = ("-m", "app.cli", "up")
) -> WorkerProcess:
    """A worker (`tailor up`, or a test's own worker module) as a child process, once its /metrics answers."""
    port = free_port()
    live = settings.model_copy(update={"metrics_port": port})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, *argv], env=settings_env(live), stdout=log, stderr=log, cwd=REPO
        )
    wp = WorkerProcess(proc, port, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{wp.log()[-3000:]}")
        try:
            wp.metrics_text()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        proc.wait()
        raise RuntimeError("worker metrics never came up")
    return wp


def stop_worker_process(wp: WorkerProcess) -> None:
    wp.proc.terminate()
    try:
        wp.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        wp.proc.kill()
        wp.proc.wait()


@pytest.fixture
def worker(settings: TailorSettings, tmp_path: Path) -> Iterator[WorkerProcess]:
    """`tailor up` as a real child process on the session broker."""
    wp = start_worker_process(settings, tmp_path / "worker.log")
    yield wp
    stop_worker_process(wp)
