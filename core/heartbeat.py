"""A liveness heartbeat the event loop must keep refreshing, and the HTTP server that answers for it.

/metrics alone cannot tell a hung worker from a live one: prometheus_client serves it from its own thread, so
it keeps answering while the asyncio loop is blocked. `/healthz`, served by the same thread, instead reports
how long ago a task on the loop last called `Heartbeat.beat()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

HEALTHZ_PATH = "/healthz"


class Heartbeat:
    """The monotonic time of the last beat; thread-safe to read (one float assignment)."""

    def __init__(self, stale_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stale_s = stale_s
        self._clock = clock
        # counted from creation, so a loop that hangs before its first beat is caught too
        self._last = clock()

    def beat(self) -> None:
        self._last = self._clock()

    def age_s(self) -> float:
        return self._clock() - self._last

    def alive(self) -> bool:
        return self.age_s() <= self.stale_s


class _QuietHandler(WSGIRequestHandler):
    # probes every few seconds would flood the logs
    def log_message(self, format: str, *args: Any) -> None:
        pass


def metrics_and_health_app(registry: CollectorRegistry, heartbeat: Heartbeat | None) -> Callable[..., Any]:
    """A WSGI app: /healthz from the heartbeat (200 / 503), everything else prometheus_client's exposition."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != HEALTHZ_PATH:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if heartbeat is None:
            status, body = "200 OK", b"ok: no heartbeat in this process\n"
        else:
            age = heartbeat.age_s()
            if age <= heartbeat.stale_s:
                status, body = "200 OK", f"ok: heartbeat {age:.1f}s ago\n".encode()
            else:
                status = "503 Service Unavailable"
                body = f"stale: heartbeat {age:.1f}s ago > {heartbeat.stale_s:g}s\n".encode()
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")])
        return [body]

    return app


def serve_metrics_and_health(
    registry: CollectorRegistry, host: str, port: int, heartbeat: Heartbeat | None = None
) -> int:
    """Serve /metrics and /healthz on host:port from a daemon thread (port 0 picks one); return the port."""
    server = make_server(
        host,
        port,
        metrics_and_health_app(registry, heartbeat),
        ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="tailor-metrics", daemon=True).start()
    return int(server.server_port)
