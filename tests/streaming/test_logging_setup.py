"""JSON logging: warnings, uncaught thread exceptions and console printing all come out as JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

SCRIPT = r"""
import threading, warnings, faust
from streaming.logging_setup import configure_logging, console_streams
configure_logging("INFO", json_lines=True)
streams = console_streams(True)
worker = faust.Worker(faust.App("t", autodiscover=False, web_enabled=False), **streams)
worker.say("starting up")                      # Faust's console notices
worker.spinner.begin(); worker.spinner.finish()  # terminal codes only: nothing to log
streams["stdout"].write("partial ")
streams["stdout"].write("line\n")
worker.carp("-INT- -INT-")
warnings.warn("a deprecated thing")
t = threading.Thread(target=lambda: 1 / 0, name="boom")
t.start(); t.join()
"""


def test_everything_on_stderr_is_json_with_json_logs() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    records = [json.loads(line) for line in done.stderr.splitlines()]  # raises on any non-JSON line
    by_msg = {r["msg"]: r for r in records}
    assert (
        by_msg["starting up"]["level"] == "INFO" and by_msg["partial line"]["logger"] == "streaming.console"
    )
    assert by_msg["-INT- -INT-"]["level"] == "WARNING"
    assert any("a deprecated thing" in r["msg"] and r["logger"] == "py.warnings" for r in records)
    (crash,) = [r for r in records if r["logger"] == "streaming.uncaught"]
    assert crash["level"] == "ERROR" and "thread boom" in crash["msg"] and "ZeroDivisionError" in crash["exc"]
    assert len(records) == 5


def test_plain_logs_leave_console_output_alone() -> None:
    script = (
        "from streaming.logging_setup import console_streams, configure_logging\n"
        "configure_logging('INFO', json_lines=False)\nassert console_streams(False) == {}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
