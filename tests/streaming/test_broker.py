import os
import signal
import subprocess
import sys
import time

from streaming.broker import EmbeddedBroker, metadata_ready
from streaming.broker_config import BrokerConfig


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); read its state
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_starts_answers_metadata_and_stops() -> None:
    broker = EmbeddedBroker(BrokerConfig())
    bootstrap = broker.start()
    pid = broker.pid
    assert pid is not None
    host, port = bootstrap.split(":")
    assert host == "127.0.0.1"
    assert metadata_ready(host, int(port))
    broker.stop()
    assert not _alive(pid)
    assert not metadata_ready(host, int(port))


CHILD = """
import sys, time
from streaming.broker import EmbeddedBroker
from streaming.broker_config import BrokerConfig
b = EmbeddedBroker(BrokerConfig())
b.start()
print(b.pid, flush=True)
time.sleep(120)
"""


def _tansu_pid_of(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return int(line.strip())


def _wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_no_orphan_when_the_owner_is_killed_with_sigkill() -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    tansu = _tansu_pid_of(proc)
    assert _alive(tansu)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _wait_gone(tansu), "Tansu outlived its owner"


def test_no_orphan_when_the_service_gets_sigterm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAILOR_")}
    env.update(TAILOR_DATA_DIR=str(tmp_path), TAILOR_METRICS_PORT="0", TAILOR_SYNTH_BACKEND="rules")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    broker_file = tmp_path / "broker.json"
    deadline = time.monotonic() + 60
    while not broker_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert broker_file.exists(), "tailor up did not announce its embedded broker"
    time.sleep(1.0)
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert children, "no embedded broker child process"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    for pid in children:
        assert _wait_gone(int(pid)), f"child {pid} left behind"
    assert not broker_file.exists()
