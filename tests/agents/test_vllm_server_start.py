"""Starting the vLLM server on a slow or broken machine, without vLLM: a fake environment whose `python`
exits, keeps logging without answering, or goes quiet. The start reports progress while it waits, ends early
when the process exits or stalls, and `tailor up` ends such a failure with one line (no traceback), exit 1."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.vllm_server import VllmServer, VllmServerError, last_log_line
from agents.vllm_server_config import VllmServerConfig
from core.ports import free_port
from streaming.settings import TailorSettings
from tests.agents.test_vllm_server import processes_writing
from tests.conftest import settings_env

EXITS = """echo "INFO 07-01 12:00:00 [api_server.py:1] vLLM API server version 0.0.0"
echo "ERROR 07-01 12:00:01 [core.py:2] RuntimeError: no engine for this model"
exit 1
"""
LOGS_FOREVER = """while true; do
  echo "INFO 07-01 12:00:00 [engine.py:3] init engine step $(date +%s%N)"; sleep 0.2
done
"""
GOES_QUIET = """echo "(EngineCore_0 pid=1) INFO 07-01 12:00:00 [loader.py:4] loading weights"
exec sleep 120
"""


def fake_env(tmp_path: Path, body: str) -> tuple[Path, Path]:
    """A vLLM environment whose `python` runs `body` (a shell script); a model folder with a config.json."""
    venv, model = tmp_path / "venv", tmp_path / "model"
    (venv / "bin").mkdir(parents=True)
    model.mkdir()
    (model / "config.json").write_text("{}")
    python = venv / "bin" / "python"
    python.write_text("#!/bin/sh\n" + body)
    python.chmod(0o755)
    return venv, model


def start(tmp_path: Path, body: str, **config: float) -> tuple[VllmServer, VllmServerError]:
    venv, model = fake_env(tmp_path, body)
    server = VllmServer(
        VllmServerConfig(
            venv=venv, model_dir=model, log_file=tmp_path / "server.log", stop_timeout_s=5, **config
        )
    )  # type: ignore[arg-type]
    with pytest.raises(VllmServerError) as err:
        server.start()
    assert server.process is None and server.base_url is None
    return server, err.value


def test_a_server_that_exits_fails_at_once_with_its_last_log_line(tmp_path: Path) -> None:
    started = time.monotonic()
    _, err = start(tmp_path, EXITS, start_timeout_s=60)
    assert time.monotonic() - started < 10
    assert err.reason == "server exited" and err.log_path == tmp_path / "server.log"
    assert "last log lines" in str(err)  # the full message quotes the log
    line = err.summary()
    assert "\n" not in line and line.startswith("server exited: exit code 1")
    assert "last log line: RuntimeError: no engine for this model" in line
    assert str(tmp_path / "server.log") in line


def test_a_server_that_never_answers_reports_progress_then_times_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agents.vllm_server")
    started = time.monotonic()
    _, err = start(tmp_path, LOGS_FOREVER, start_timeout_s=3, progress_interval_s=0.5)
    assert 3 <= time.monotonic() - started < 15
    assert err.reason == "start timeout" and "within 3s" in err.detail
    assert "init engine step" in err.summary()
    progress = [r.getMessage() for r in caplog.records if "vLLM server starting" in r.getMessage()]
    assert len(progress) >= 3, progress
    assert all("last: init engine step" in p for p in progress[1:]), progress  # the prefix is stripped


def test_a_server_whose_log_stops_growing_is_given_up_as_stalled(tmp_path: Path) -> None:
    started = time.monotonic()
    _, err = start(tmp_path, GOES_QUIET, start_timeout_s=120, start_quiet_s=2)
    assert time.monotonic() - started < 15
    assert err.reason == "start stalled"
    assert "last log line: loading weights" in err.summary()
    assert processes_writing(tmp_path / "server.log") == []  # the quiet `sleep` was stopped with its group


def test_last_log_line_skips_blank_lines_prefixes_and_colour() -> None:
    text = (
        "INFO 07-01 12:00:00 [a.py:1] one\n\x1b[32mWARNING 07-01 12:00:01.5 [b.py:2] two\x1b[0m\n  \n----\n"
    )
    assert last_log_line(text) == "two"
    assert last_log_line("") == "" and len(last_log_line("x" * 500)) == 160


def test_tailor_up_ends_a_failed_start_with_one_line(settings: TailorSettings, tmp_path: Path) -> None:
    """`tailor up` from another working directory with a vLLM environment that cannot start: exit 1, the last
    line says why, where the log is and what to try, and there is no traceback."""
    venv, model = fake_env(tmp_path, EXITS)
    live = settings.model_copy(
        update={
            "synth_backend": "vllm",
            "vllm_venv": venv,
            "model_dir": model,
            "metrics_port": free_port(),
            "vllm_start_timeout_s": 60.0,
        }
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "up"],
        env=settings_env(live),
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = [ln for ln in proc.stderr.splitlines() if ln.strip()][-1]
    assert last.startswith("tailor: the vLLM server did not start: server exited: exit code 1"), last
    assert "RuntimeError: no engine for this model" in last and "TAILOR_SYNTH_BACKEND=rules" in last, last
    assert ".log" in last


def test_servers_for_tailors_own_adapters_take_the_trainers_rank(tmp_path: Path) -> None:
    """vLLM takes only some --max-lora-rank values; a server for known adapters gets the smallest that fits
    them (the quality bench's own server: its adapter's largest rank, per-module ranks included)."""
    from agents.vllm_server_config import lora_rank_slot
    from bench.backends import WeightsVersion

    assert [lora_rank_slot(r) for r in (1, 2, 8, 9, 16, 17, 512)] == [1, 8, 8, 16, 16, 32, 512]
    with pytest.raises(ValueError):
        lora_rank_slot(513)
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 8, "rank_pattern": {"q_proj": 12}}))
    assert lora_rank_slot(WeightsVersion(tmp_path, "0" * 64).rank()) == 16
    cmd = VllmServer(VllmServerConfig(model_dir=tmp_path, max_lora_rank=lora_rank_slot(8))).command(1)
    assert cmd[cmd.index("--max-lora-rank") + 1] == "8"
