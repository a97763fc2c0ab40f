"""A worker whose robot handler is slow, with the lag monitor registered (run by test_lag_monitor.py).

    python -m tests.streaming.lag_worker      # settings from TAILOR_* like `tailor up`

Faust is told to take a few records at a time into a small buffer, so the consumer's position trails the
high-water mark while the handler works through a backlog: the lag the monitor reports is then visible.
"""

from __future__ import annotations

import asyncio
import os

import faust
from prometheus_client import CollectorRegistry

from core.dlq import SourcePosition
from core.metrics import TailorMetrics, serve_metrics
from core.records import TailorRecord
from streaming.app import create_app
from streaming.ingest import RecordHandler
from streaming.lag_monitor import register_lag_monitor
from streaming.logging_setup import configure_logging, console_streams
from streaming.settings import load_settings


class SlowHandler(RecordHandler):
    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    async def handle(self, record: TailorRecord, pos: SourcePosition) -> None:
        await asyncio.sleep(self.delay_s)


def main() -> int:
    settings = load_settings()
    configure_logging(
        settings.log_level, settings.log_json, settings.log_repeat_burst, settings.log_repeat_interval_s
    )
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    registry = CollectorRegistry()
    metrics = TailorMetrics(registry)
    serve_metrics(registry, settings.metrics_host, settings.metrics_port)
    delay_s = float(os.environ.get("LAG_TEST_DELAY_S", "0.02"))
    tailor = create_app(settings, metrics, handlers={"raw_robot": [SlowHandler(delay_s)]})
    tailor.faust_app.conf.broker_max_poll_records = 8
    tailor.faust_app.conf.stream_buffer_maxsize = 16
    register_lag_monitor(tailor.faust_app, metrics, interval_s=0.25)
    metrics.up.set(1)
    worker = faust.Worker(
        tailor.faust_app,
        loglevel=settings.log_level,
        override_logging=False,
        **console_streams(settings.log_json),
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
