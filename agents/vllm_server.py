"""The vLLM OpenAI-compatible server, run from its own environment (`make vllm-env`).

`VllmServer(config)` starts `VENV/bin/python -m vllm.entrypoints.openai.api_server` on a model folder, waits
for `GET /health`, and on exit stops the whole process group (the API server spawns an engine core and a
worker). The child gets PR_SET_PDEATHSIG, so it is told to stop even when this process is SIGKILLed (the
server then takes its own workers down; note the signal fires when the *thread* that started it ends, so
start it from a long-lived thread). With `config.url` set nothing is started: the running server at
that URL (e.g. on a GPU machine) is checked and used.

    with VllmServer(VllmServerConfig(model_dir=Path(".cache/models/SmolLM2-135M-Instruct"))) as server:
        post(server.api_url + "/chat/completions", ...)
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import IO

from agents.compute_dtype import resolve_dtype
from agents.vllm_server_config import VllmServerConfig
from streaming.broker import free_port

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_HEALTH_POLL_S = 0.5
# Variables of the calling environment that would point the vLLM venv's Python at the wrong packages.
_DROPPED_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


class VllmServerError(RuntimeError):
    """The server could not be started or reached; `reason` is a short label, the message adds detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def _new_log_file() -> Path:
    fd, name = tempfile.mkstemp(prefix="tailor-vllm-", suffix=".log")
    os.close(fd)
    return Path(name)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def is_healthy(base_url: str, timeout_s: float = 2.0) -> bool:
    """True when `GET {base_url}/health` answers 200."""
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/health", timeout=timeout_s) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def tail_lines(path: Path, n: int) -> str:
    """The last `n` lines of a (possibly large, possibly binary-garbled) log file."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            return "".join(deque(fh, maxlen=n)) if n else ""
    except OSError:
        return ""


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group `pgid`, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process went away while we looked
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


class VllmServer:
    """Context manager around one vLLM API server process (or a running server given by URL)."""

    def __init__(self, config: VllmServerConfig) -> None:
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url: str | None = None
        self.log_path: Path | None = None
        self._log_handle: IO[bytes] | None = None

    @property
    def api_url(self) -> str:
        """The OpenAI API root (`.../v1`)."""
        if self.base_url is None:
            raise VllmServerError("not started", "the vLLM server has not been started")
        return self.base_url + "/v1"

    @property
    def model_name(self) -> str:
        return self.config.served_model_name

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def python(self) -> Path:
        return self.config.venv / "bin" / "python"

    def command(self, port: int) -> list[str]:
        """The server's argv for `port`."""
        cfg = self.config
        cmd = [
            str(self.python()), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(cfg.model_dir),
            "--served-model-name", cfg.served_model_name,
            "--host", cfg.host,
            "--port", str(port),
            "--dtype", resolve_dtype(cfg.dtype) or "auto",
            "--max-model-len", str(cfg.max_model_len),
            "--gpu-memory-utilization", str(cfg.gpu_memory_utilization),
            "--disable-uvicorn-access-log",
        ]
        if cfg.enforce_eager:
            cmd.append("--enforce-eager")
        if cfg.enable_lora:
            cmd += ["--enable-lora", "--max-lora-rank", str(cfg.max_lora_rank)]
        return cmd + list(cfg.extra_args)

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update(
            VIRTUAL_ENV=str(self.config.venv.resolve()),
            HF_HUB_OFFLINE="1",
            VLLM_NO_USAGE_STATS="1",
            DO_NOT_TRACK="1",
            PYTHONUNBUFFERED="1",
        )
        if self.config.enable_lora:
            env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
        if self.config.cpu_reserved_cores is not None:
            env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = str(self.config.cpu_reserved_cores)
        env.update(self.config.extra_env)
        return env

    def start(self) -> str:
        """Start (or reach) the server and wait until it is healthy; return its base URL."""
        if self.base_url is not None:
            raise VllmServerError("already started", f"server already running at {self.base_url}")
        if self.config.url is not None:
            return self._attach(self.config.url.rstrip("/"))
        self._check_inputs()
        port = self.config.port or free_port(self.config.host)
        self.log_path = self.config.log_file or _new_log_file()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_handle = self.log_path.open("ab")
        log.info("starting vLLM server for %s on %s:%d (log: %s)", self.config.model_dir, self.config.host,
                 port, self.log_path)
        started = time.monotonic()
        self.process = subprocess.Popen(
            self.command(port),
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            env=self.environment(),
            start_new_session=True,  # own process group: stop() signals the engine core and workers too
            preexec_fn=_die_with_parent,
        )
        atexit.register(self.stop)
        url = f"http://{self.config.host}:{port}"
        self._wait_healthy(url, started + self.config.start_timeout_s)
        self.base_url = url
        log.info("vLLM server ready at %s after %.1fs", url, time.monotonic() - started)
        return url

    def _attach(self, url: str) -> str:
        deadline = time.monotonic() + self.config.start_timeout_s
        while not is_healthy(url):
            if time.monotonic() > deadline:
                raise VllmServerError("server unreachable", f"{url}/health did not answer 200 "
                                      f"within {self.config.start_timeout_s}s")
            time.sleep(_HEALTH_POLL_S)
        self.base_url = url
        log.info("using the running vLLM server at %s", url)
        return url

    def _check_inputs(self) -> None:
        if not self.python().is_file():
            raise VllmServerError("vllm env missing", f"{self.python()} not found (run `make vllm-env`)")
        model_dir = self.config.model_dir
        if model_dir is None or not (model_dir / "config.json").is_file():
            raise VllmServerError("model missing", f"no model folder with config.json at {model_dir}")

    def _wait_healthy(self, url: str, deadline: float) -> None:
        assert self.process is not None
        while True:
            code = self.process.poll()
            if code is not None:
                self.stop()
                raise VllmServerError("server exited", f"exit code {code} during start; {self._log_tail()}")
            if is_healthy(url):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise VllmServerError(
                    "start timeout",
                    f"no healthy answer within {self.config.start_timeout_s}s; {self._log_tail()}",
                )
            time.sleep(_HEALTH_POLL_S)

    def _log_tail(self) -> str:
        if self.log_path is None:
            return "no log"
        return f"last log lines of {self.log_path}:\n{tail_lines(self.log_path, self.config.log_tail_lines)}"

    def stop(self) -> None:
        """Stop the server and everything it spawned; a no-op for URL mode or when not running."""
        proc, self.process = self.process, None
        self.base_url = None
        atexit.unregister(self.stop)
        if proc is not None:
            pgid = proc.pid  # the leader of its own session/group
            if proc.poll() is None:
                _signal_group(pgid, signal.SIGTERM)
                try:
                    proc.wait(timeout=self.config.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    log.warning("vLLM server ignored SIGTERM for %.0fs; killing it",
                                self.config.stop_timeout_s)
                    _signal_group(pgid, signal.SIGKILL)
                    proc.wait(timeout=10)
            self._reap_group(pgid)
            log.info("vLLM server stopped")
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def _reap_group(self, pgid: int) -> None:
        """Wait for the group's other members (engine core, worker) to go; kill them if they linger."""
        deadline = time.monotonic() + self.config.stop_timeout_s
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if group_members(pgid):
            log.warning("vLLM server children outlived it; killing process group %d", pgid)
            _signal_group(pgid, signal.SIGKILL)

    def __enter__(self) -> VllmServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
