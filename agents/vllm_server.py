"""The vLLM OpenAI-compatible server, run from its own environment (`make vllm-env`).

`VllmServer(config)` starts `VENV/bin/python -m vllm.entrypoints.openai.api_server` on a model folder, waits
for `GET /health`, and on exit stops the whole process group (the API server spawns an engine core and a
worker). The child gets PR_SET_PDEATHSIG, so it is told to stop even when this process is SIGKILLed (the
server then takes its own workers down; note the signal fires when the *thread* that started it ends, so
start it from a long-lived thread). With `config.url` set nothing is started: the running server at
that URL (e.g. on a GPU machine) is checked and used.

The wait for `/health` adapts to a slow machine: every `progress_interval_s` it logs the elapsed time and the
last line of the server log; it ends early when the process exits ("server exited") or when the log has not
grown for `start_quiet_s` ("start stalled"), and at the latest after `start_timeout_s` ("start timeout").

    model = installed_path(".cache/models/SmolLM2-135M-Instruct")  # from agents.vllm_server_config
    with VllmServer(VllmServerConfig(model_dir=model)) as server:
        post(server.api_url + "/chat/completions", ...)
"""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import IO, NoReturn, Self

from agents.compute_dtype import resolve_dtype
from agents.vllm_server_config import VllmServerConfig
from core.errors import TailorError
from core.ports import free_port

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_HEALTH_POLL_S = 0.5
_LAST_LINE_CHARS = 160
# vLLM's log prefix ("INFO 07-01 12:00:00 [loader.py:52] ", "(EngineCore_0 pid=12) INFO ...") and colour codes
_LOG_PREFIX = re.compile(
    r"^(\([^)]*\)\s*)?(DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+"
    r"\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\s+(\[[^\]]*\]\s*)?"
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Variables of the calling environment that would point the vLLM venv's Python at the wrong packages.
_DROPPED_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


class VllmServerError(TailorError, RuntimeError):
    """The server could not be started or reached; `reason` is a short label, `detail` one line of detail; the
    message adds the last lines of the server log when there is one (`log_path`)."""

    def __init__(self, reason: str, detail: str, log_path: Path | None = None, log_tail: str = "") -> None:
        message = f"{reason}: {detail}"
        if log_path is not None:
            message += f"; last log lines of {log_path}:\n{log_tail}"
        super().__init__(reason, detail, message)
        self.log_path = log_path
        self.log_tail = log_tail

    def summary(self) -> str:
        """One line: the reason, the detail, the last meaningful log line and the log file."""
        line = f"{self.reason}: {self.detail}"
        last = last_log_line(self.log_tail)
        if last:
            line += f"; last log line: {last}"
        if self.log_path is not None:
            line += f"; log: {self.log_path}"
        return line


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


def last_log_line(text: str) -> str:
    """The last meaningful line of a server log excerpt: colour codes and vLLM's level/time/source prefix
    removed, blank lines skipped, cut to a readable length."""
    for raw in reversed(text.splitlines()):
        line = _LOG_PREFIX.sub("", _ANSI.sub("", raw).strip()).strip()
        if any(ch.isalnum() for ch in line):
            return line if len(line) <= _LAST_LINE_CHARS else line[: _LAST_LINE_CHARS - 3] + "..."
    return ""


def _file_size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


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
            str(self.python()),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(cfg.model_dir),
            "--served-model-name",
            cfg.served_model_name,
            "--host",
            cfg.host,
            "--port",
            str(port),
            "--dtype",
            resolve_dtype(cfg.dtype) or "auto",
            "--max-model-len",
            str(cfg.max_model_len),
            "--gpu-memory-utilization",
            str(cfg.gpu_memory_utilization),
            "--disable-uvicorn-access-log",
        ]
        if cfg.enforce_eager:
            cmd.append("--enforce-eager")
        if cfg.enable_lora:
            cmd += ["--enable-lora", "--max-lora-rank", str(cfg.max_lora_rank)]
        if cfg.limit_mm_per_prompt is not None:
            cmd += ["--limit-mm-per-prompt", json.dumps(cfg.limit_mm_per_prompt, sort_keys=True)]
        if cfg.kv_cache_memory_bytes is not None:
            cmd += ["--kv-cache-memory-bytes", str(cfg.kv_cache_memory_bytes)]
        if cfg.compact_json:
            cmd += [
                "--structured-outputs-config",
                json.dumps({"backend": cfg.structured_backend, "disable_any_whitespace": True}),
            ]
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
        log.info(
            "starting vLLM server for %s on %s:%d (log: %s)",
            self.config.model_dir,
            self.config.host,
            port,
            self.log_path,
        )
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
        self._wait_healthy(url, started)
        self.base_url = url
        log.info("vLLM server ready at %s after %.1fs", url, time.monotonic() - started)
        return url

    def _attach(self, url: str) -> str:
        started = time.monotonic()
        deadline = started + self.config.start_timeout_s
        next_report = started + self.config.progress_interval_s
        while not is_healthy(url):
            now = time.monotonic()
            if now > deadline:
                raise VllmServerError(
                    "server unreachable",
                    f"{url}/health did not answer 200 within {self.config.start_timeout_s:g}s",
                )
            if now >= next_report:
                log.info("waiting for the vLLM server at %s: %.0fs", url, now - started)
                next_report = now + self.config.progress_interval_s
            time.sleep(_HEALTH_POLL_S)
        self.base_url = url
        log.info("using the running vLLM server at %s", url)
        return url

    def _check_inputs(self) -> None:
        if not self.python().is_file():
            raise VllmServerError(
                "vllm env missing", f"{self.python()} not found (run `make setup` or `make vllm-env`)"
            )
        model_dir = self.config.model_dir
        if model_dir is None or not (model_dir / "config.json").is_file():
            raise VllmServerError("model missing", f"no model folder with config.json at {model_dir}")

    def _wait_healthy(self, url: str, started: float) -> None:
        """Until /health answers 200, logging progress; stop the server and raise when it exits, stalls (no
        log growth for start_quiet_s) or reaches the hard cap (start_timeout_s)."""
        assert self.process is not None
        cfg = self.config
        deadline = started + cfg.start_timeout_s
        next_report = started + cfg.progress_interval_s
        last_size, grown_at = -1, started
        while True:
            code = self.process.poll()
            if code is not None:
                elapsed = time.monotonic() - started
                self._give_up("server exited", f"exit code {code} after {elapsed:.0f}s of start")
            if is_healthy(url):
                return
            now = time.monotonic()
            size = _file_size(self.log_path)
            if size != last_size:
                last_size, grown_at = size, now
            if now > deadline:
                self._give_up("start timeout", f"no healthy answer within {cfg.start_timeout_s:g}s")
            if now - grown_at >= cfg.start_quiet_s:
                self._give_up(
                    "start stalled",
                    f"not healthy after {now - started:.0f}s and no new log line for {cfg.start_quiet_s:g}s",
                )
            if now >= next_report:
                last = last_log_line(tail_lines(self.log_path, 20)) if self.log_path is not None else ""
                log.info(
                    "vLLM server starting: %.0fs (hard cap %gs, log %d KiB); last: %s",
                    now - started,
                    cfg.start_timeout_s,
                    size // 1024,
                    last or "(nothing logged yet)",
                )
                next_report = now + cfg.progress_interval_s
            time.sleep(_HEALTH_POLL_S)

    def _give_up(self, reason: str, detail: str) -> NoReturn:
        """Stop the half-started server and raise its start failure with the end of its log."""
        self.stop()
        tail = tail_lines(self.log_path, self.config.log_tail_lines) if self.log_path is not None else ""
        raise VllmServerError(reason, detail, self.log_path, tail)

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
                    log.warning(
                        "vLLM server ignored SIGTERM for %.0fs; killing it", self.config.stop_timeout_s
                    )
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

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
