"""Log handlers, configured only by entrypoints. JSON lines carry topic/partition/offset when given.

With `json_lines`, everything the process writes to stderr is one JSON object per line: log records, warnings
(`logging.captureWarnings`) and uncaught exceptions in any thread. Libraries that print to the console
(Faust's worker banner, spinner and signal notices) are kept in line by giving them `console_streams(...)`:

    faust.Worker(app, ..., **console_streams(settings.log_json))
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
import time
from types import TracebackType
from typing import IO, TypedDict, cast

from streaming.log_repeats import RepeatLimiter

_RECORD_FIELDS = ("topic", "partition", "offset")
# terminal control sequences and control characters (a spinner's cursor codes, bells, backspaces)
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")
CONSOLE_LOGGER = "streaming.console"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in _RECORD_FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class LogStream(io.TextIOBase):
    """A text stream that logs each complete line it is given (control sequences removed, blank lines dropped)."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        self.logger = logger
        self.level = level
        self.pending = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, s: str) -> int:
        self.pending += s
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self._emit(line)
        return len(s)

    def flush(self) -> None:
        if self.pending:
            line, self.pending = self.pending, ""
            self._emit(line)

    def _emit(self, line: str) -> None:
        text = _CONTROL.sub("", line).strip()
        if text:
            self.logger.log(self.level, text)


class ConsoleStreams(TypedDict, total=False):
    stdout: IO[str]
    stderr: IO[str]


def console_streams(json_lines: bool) -> ConsoleStreams:
    """`stdout`/`stderr` keyword arguments for a console-printing library (faust.Worker): with JSON logs
    its output becomes log records; otherwise nothing changes (empty dict)."""
    if not json_lines:
        return ConsoleStreams()
    log = logging.getLogger(CONSOLE_LOGGER)
    return ConsoleStreams(
        stdout=cast(IO[str], LogStream(log, logging.INFO)),
        stderr=cast(IO[str], LogStream(log, logging.WARNING)),
    )


def _log_uncaught(
    exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, where: str
) -> None:
    if exc_type is None or exc is None or issubclass(exc_type, (SystemExit, KeyboardInterrupt)):
        return
    logging.getLogger("streaming.uncaught").error(
        "uncaught exception in %s", where, exc_info=(exc_type, exc, tb)
    )


def _thread_hook(args: threading.ExceptHookArgs) -> None:
    name = args.thread.name if args.thread is not None else "a thread"
    _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback, f"thread {name}")


def _main_hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    _log_uncaught(exc_type, exc, tb, "the main thread")


def configure_logging(
    level: str = "INFO", json_lines: bool = False, repeat_burst: int = 5, repeat_interval_s: float = 10.0
) -> None:
    """Root handler on stderr; the Kafka client libraries' repeated records limited (see `RepeatLimiter`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RepeatLimiter(repeat_burst, repeat_interval_s))
    if json_lines:
        handler.setFormatter(JsonFormatter())
        logging.captureWarnings(True)
        threading.excepthook = _thread_hook
        sys.excepthook = _main_hook
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("kafka", "aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
