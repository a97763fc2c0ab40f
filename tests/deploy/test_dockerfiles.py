"""The Dockerfiles parse, run as non-root, expose the metrics / API port, and copy what the build sends."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from streaming.app_config import AppConfig
from tests.conftest import REPO
from tests.deploy.deploy_files import DEPLOY, dockerignore_allows, parse_dockerfile

DOCKER = DEPLOY / "docker"
METRICS_PORT = AppConfig.model_fields["metrics_port"].default


@pytest.mark.parametrize("name", ["worker", "trainer", "vllm"])
def test_dockerfile_runs_as_non_root_and_exposes_its_port(name: str) -> None:
    df = parse_dockerfile(DOCKER / f"{name}.Dockerfile")
    user = df.last("USER")
    assert user is not None, "the final stage must set USER"
    uid = user.split(":")[0]
    assert uid not in ("0", "root") and uid.isdigit(), (
        f"USER {user}: numeric non-root uid (runAsNonRoot checks it)"
    )
    expected = 8000 if name == "vllm" else METRICS_PORT
    assert df.exposed_ports() == {expected}
    assert df.exec_form("ENTRYPOINT") and df.exec_form("CMD")
    assert df.last("HEALTHCHECK") is not None


@pytest.mark.parametrize("name", ["worker", "trainer"])
def test_tailor_images_install_the_lock_and_serve_metrics_on_all_interfaces(name: str) -> None:
    df = parse_dockerfile(DOCKER / f"{name}.Dockerfile")
    runs = " ".join(v for stage in df.stages for k, v in stage.instructions if k == "RUN")
    assert "-r /tmp/requirements/main.lock" in runs and "pip check" in runs
    assert "download.pytorch.org/whl/cpu" in df.args.get("TORCH_INDEX_URL", "")
    env = df.env()
    assert env["TAILOR_METRICS_HOST"] == "0.0.0.0" and env["TAILOR_METRICS_PORT"] == str(METRICS_PORT)
    assert env["TAILOR_DATA_DIR"] == "/var/lib/tailor"
    assert df.exec_form("CMD") == (["up"] if name == "worker" else ["trainer"])
    # every file the image copies exists and is sent by the allow-list .dockerignore next to the Dockerfile
    ignore = DOCKER / f"{name}.Dockerfile.dockerignore"
    for source in df.copy_sources():
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert dockerignore_allows(ignore, source), f"COPY {source}: excluded by {ignore.name}"


def test_the_lock_pins_the_cpu_torch_the_images_rewrite() -> None:
    lock = (REPO / "requirements/main.lock").read_text().splitlines()
    assert "torch==2.13.0+cpu" in lock, "worker/trainer Dockerfiles expect this exact torch line"
    trainer = (DOCKER / "trainer.Dockerfile").read_text()
    assert r"s/^torch==2\.13\.0+cpu$/torch==2.13.0/" in trainer


def test_vllm_image_is_the_official_one_at_the_pinned_gpu_version() -> None:
    df = parse_dockerfile(DOCKER / "vllm.Dockerfile")
    pin = re.search(r"^vllm==(\S+)$", (REPO / "requirements/vllm-gpu.txt").read_text(), re.MULTILINE)
    assert pin is not None
    assert df.final.base == f"vllm/vllm-openai:v{pin.group(1)}"
    assert df.exec_form("ENTRYPOINT") == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    cmd = df.exec_form("CMD")
    assert "--enable-lora" in cmd and cmd[cmd.index("--model") + 1] == "/models/base"
    assert df.env()["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert dockerignore_allows(DOCKER / "vllm.Dockerfile.dockerignore", "anything") is False


def test_entrypoint_names_the_replica_and_execs_tailor() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAILOR_")}
    env["PATH"] = f"{REPO / '.venv/bin'}:{env.get('PATH', '')}"
    script = DOCKER / "entrypoint.sh"
    assert os.access(script, os.X_OK)
    host = subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip()
    traced = subprocess.run(
        ["sh", "-x", str(script), "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert traced.returncode == 0 and "Tailor" in traced.stdout, traced.stderr
    assert f"+ : {host}" in traced.stderr and "+ export TAILOR_WORKER_ID" in traced.stderr
    assert "+ exec tailor --help" in traced.stderr
    env["TAILOR_WORKER_ID"] = "w-7"
    given = subprocess.run(
        ["sh", "-x", str(script), "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert given.returncode == 0 and "+ : w-7" in given.stderr, given.stderr
