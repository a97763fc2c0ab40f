"""`tailor up`: the worker service (Faust agents + /metrics) until stopped."""

from __future__ import annotations

import logging
import signal

import faust
from prometheus_client import CollectorRegistry

from agents.synthesis.factory import open_backend
from core.heartbeat import Heartbeat
from core.metrics import TailorMetrics, serve_metrics
from streaming.app import create_app
from streaming.lag_monitor import register_lag_monitor
from streaming.logging_setup import console_streams
from streaming.malloc_tuning import limit_arenas, trim
from streaming.retention import register_retention
from streaming.runtime import owned_cluster
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics
from streaming.window_store import changelog_topic

log = logging.getLogger(__name__)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def register_trim(app: faust.App, interval_s: float) -> None:
    """A timer that hands free heap memory back to the system every `interval_s` (0: none)."""
    if interval_s <= 0:
        return

    @app.timer(interval_s, name="tailor.malloc_trim")
    async def malloc_trim() -> None:
        trim()


def register_heartbeat(app: faust.App, heartbeat: Heartbeat, interval_s: float) -> None:
    """A timer on the worker's event loop that refreshes `heartbeat`: when the loop stops, /healthz fails."""

    @app.timer(interval_s, name="tailor.heartbeat")
    async def refresh_heartbeat() -> None:
        heartbeat.beat()


def run_service(settings: TailorSettings) -> int:
    """Run until SIGINT/SIGTERM. Starts (and stops) an embedded broker when none is configured."""
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    # until the Faust worker installs its own handlers (e.g. while a vLLM server starts), SIGTERM exits
    # cleanly through the finally blocks below, which stop what this process started
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    limit_arenas(settings.malloc_arena_max)  # before any thread allocates
    with owned_cluster(settings, announce=True) as live:
        assert live.kafka_bootstrap is not None
        ensure_topics(
            live,
            live,
            live.kafka_bootstrap,
            extra_compacted=(changelog_topic(live),),
            max_message_bytes=live.max_message_bytes,
        )
        registry = CollectorRegistry()
        metrics = TailorMetrics(registry)
        heartbeat = Heartbeat(live.liveness_stale_s)
        port = serve_metrics(registry, live.metrics_host, live.metrics_port, heartbeat)
        log.info(
            "metrics on http://%s:%d/metrics; kafka at %s", live.metrics_host, port, live.kafka_bootstrap
        )
        synthesis = open_backend(live, live.intent_model_timeout_s, live.intent_model_enabled)
        try:
            tailor = create_app(live, metrics, synthesis=synthesis)
            metrics.up.set(1)
            metrics.model_version.labels(synthesis.backend.weights_version or "base").set(1)
            register_lag_monitor(
                tailor.faust_app,
                metrics,
                interval_s=live.lag_interval_s,
                position_timeout_s=live.lag_position_timeout_s,
            )
            register_trim(tailor.faust_app, live.malloc_trim_interval_s)
            register_retention(tailor.faust_app, live, metrics)
            register_heartbeat(tailor.faust_app, heartbeat, live.liveness_interval_s)
            worker = faust.Worker(
                tailor.faust_app,
                loglevel=live.log_level,
                override_logging=False,
                **console_streams(live.log_json),
            )
            try:
                worker.execute_from_commandline()
            except SystemExit as exc:
                return int(exc.code or 0)
            finally:
                metrics.up.set(0)
        finally:
            synthesis.stop()
    return 0
