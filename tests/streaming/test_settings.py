import subprocess
import sys

import pytest
from pydantic import ValidationError

from streaming.settings import SettingsError, load_settings


def test_defaults_are_loopback_and_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("TAILOR_"):
            monkeypatch.delenv(key)
    s = load_settings()
    assert s.kafka_bootstrap is None
    assert s.metrics_host == "127.0.0.1"
    assert s.topic_raw_video == "tailor.raw.video"


def test_environment_is_read_and_settings_are_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILOR_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("TAILOR_PARTITIONS", "12")
    s = load_settings()
    assert s.kafka_bootstrap == "k1:9092,k2:9092" and s.partitions == 12
    with pytest.raises(ValidationError):  # frozen
        s.partitions = 3  # type: ignore[misc]


def test_bad_value_names_the_setting_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILOR_PARTITIONS", "many")
    with pytest.raises(SettingsError) as err:
        load_settings()
    msg = str(err.value)
    assert "TAILOR_PARTITIONS" in msg and "\n" not in msg


def test_sasl_without_password_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILOR_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TAILOR_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("TAILOR_KAFKA_SASL_USERNAME", "svc")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "TAILOR_KAFKA_SASL_PASSWORD" in str(err.value)


def test_password_is_secret_and_passes_to_clients(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from streaming.kafka_clients import aiokafka_kwargs, kafka_python_kwargs

    ca = tmp_path / "ca.pem"
    ca.write_text("not used for connecting here")
    monkeypatch.setenv("TAILOR_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("TAILOR_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("TAILOR_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("TAILOR_KAFKA_SASL_PASSWORD", "hunter2")
    s = load_settings()
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    kp = kafka_python_kwargs(s, "b:9092")
    ak = aiokafka_kwargs(s, "b:9092")
    assert kp["sasl_plain_password"] == ak["sasl_plain_password"] == "hunter2"
    assert kp["security_protocol"] == ak["security_protocol"] == "SASL_PLAINTEXT"


def test_cli_prints_one_line_and_exits_2_on_bad_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"PATH": "/usr/bin:/bin", "TAILOR_METRICS_PORT": "99999", "TAILOR_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "TAILOR_METRICS_PORT" in lines[0], proc.stderr


def test_config_show_masks_secrets_and_a_misspelt_variable_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A misspelt TAILOR_* variable used to be ignored in silence; now every command warns at start, naming the
    closest setting; `tailor config show` prints the effective values with the password masked."""
    import json

    env = {
        "PATH": "/usr/bin:/bin",
        "TAILOR_DATA_DIR": str(tmp_path),
        "TAILOR_KAFKA_BOOTSRAP": "k1:9092",
        "TAILOR_PARTITIONS": "12",
        "TAILOR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TAILOR_KAFKA_SASL_MECHANISM": "PLAIN",
        "TAILOR_KAFKA_SASL_USERNAME": "svc",
        "TAILOR_KAFKA_SASL_PASSWORD": "hunter2",
        "TAILOR_TANSU_LOG": "debug",
        "TAILOR_GPU_PORT": "8011",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "config", "show", "--json"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["TAILOR_PARTITIONS"] == 12 and shown["TAILOR_KAFKA_BOOTSTRAP"] is None
    assert shown["TAILOR_KAFKA_SASL_PASSWORD"] == "**********" and "hunter2" not in proc.stdout + proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if "is not a Tailor setting" in ln]
    assert len(warnings) == 1, proc.stderr  # the broker's and the GPU script's variables are known
    assert "TAILOR_KAFKA_BOOTSRAP" in warnings[0] and "did you mean TAILOR_KAFKA_BOOTSTRAP?" in warnings[0]


def test_default_vllm_env_and_model_resolve_against_the_installation(  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """From another working directory the defaults still name the installation's `.venv-vllm` and model cache
    (made by `make setup`); an absolute path from a setting stays as given."""
    from pathlib import Path

    from agents.vllm_server_config import VllmServerConfig

    repo = Path(__file__).resolve().parents[2]
    for key in list(__import__("os").environ):
        if key.startswith("TAILOR_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.vllm_venv == repo / ".venv-vllm" and s.model_dir == repo / ".cache/models/SmolLM2-135M-Instruct"
    assert (s.vllm_venv / "bin" / "python").is_file() and (s.model_dir / "config.json").is_file()
    assert VllmServerConfig(model_dir=s.model_dir).venv == s.vllm_venv
    assert s.vllm_start_timeout_s == 600 and s.vllm_start_quiet_s == 300
    monkeypatch.setenv("TAILOR_VLLM_VENV", str(tmp_path / "venv"))
    monkeypatch.setenv("TAILOR_MODEL_DIR", "/models/base")
    monkeypatch.setenv("TAILOR_VLLM_START_TIMEOUT_S", "1200")
    s = load_settings()
    assert s.vllm_venv == tmp_path / "venv" and s.model_dir == Path("/models/base")
    assert s.vllm_start_timeout_s == 1200


def test_a_config_file_and_dotenv_sit_below_the_environment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`tailor --config tailor.toml` (tables only group keys) < `.env` in the working directory < the
    environment; other tools' variables in .env are left alone, a misspelt TAILOR_ one there is warned about,
    and an unknown key in the file is an error naming it."""
    import json

    (tmp_path / "tailor.toml").write_text(
        '[kafka]\npartitions = 5\nkafka_sasl_username = "from-file"\n[windows]\nwindow_max_items = 33\n'
    )
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=x\nTAILOR_PARTITIONS=7\nTAILOR_WINDOW_MAX_ITEM=9\n")
    env = {"PATH": "/usr/bin:/bin", "TAILOR_DATA_DIR": str(tmp_path), "TAILOR_WINDOW_MAX_ITEMS": "44"}

    def show(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "app.cli", *args, "config", "show", "--json"]
        return subprocess.run(
            cmd, env=env, cwd=tmp_path, check=False, capture_output=True, text=True, timeout=60
        )

    proc = show("--config", "tailor.toml")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["TAILOR_KAFKA_SASL_USERNAME"] == "from-file"  # the file
    assert shown["TAILOR_PARTITIONS"] == 7  # .env over the file
    assert shown["TAILOR_WINDOW_MAX_ITEMS"] == 44  # the environment over both
    warnings = [ln for ln in proc.stderr.splitlines() if "is not a Tailor setting" in ln]
    assert len(warnings) == 1 and "did you mean TAILOR_WINDOW_MAX_ITEMS?" in warnings[0], proc.stderr
    (tmp_path / "bad.toml").write_text("[kafka]\npartitons = 5\n")
    proc = show("--config", "bad.toml")
    assert proc.returncode == 2 and "TAILOR_PARTITONS: Extra inputs are not permitted" in proc.stderr, (
        proc.stderr
    )
