"""Several vLLM servers (replicas of one model) behind one synthesis backend.

Each replica has its own HTTP client and its own bound on requests in flight (`VllmBackendConfig.concurrency`),
so one slow replica cannot take all of the worker's slots and each server still gets a batch to work on. A
request goes to the replica with the fewest requests assigned (ties: the one picked least often). A replica
whose request fails (connection refused, timeout, HTTP 5xx) is taken out for `replica_cooldown_s`, doubled per
consecutive failure up to 8 times that; the request is retried at once on another replica. Once the cooldown
has passed the replica is picked again, and a success puts it back for good. When every replica is out, the
one that comes back soonest is used (and the caller's backoff paces the retries).

One URL that is a load-balanced Service (Kubernetes) is one replica here: the Service spreads connections,
not requests, and a failed pod is taken out by its readiness probe instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)

MAX_COOLDOWN_FACTOR = 8


@dataclass
class Replica:
    url: str
    client: httpx.AsyncClient
    gate: asyncio.Semaphore
    assigned: int = 0  # picked and not finished (waiting for the gate or in flight)
    in_flight: int = 0
    peak_in_flight: int = 0
    picks: int = 0
    failures: int = 0  # consecutive
    taken_out: int = 0  # times taken out
    down_until: float = 0.0

    def up(self, now: float) -> bool:
        return self.down_until <= now


class ReplicaPool:
    def __init__(
        self,
        urls: list[str],
        make_client: Callable[[str], httpx.AsyncClient],
        concurrency: int,
        cooldown_s: float,
    ) -> None:
        if not urls:
            raise ValueError("a vLLM backend needs at least one URL")
        self.cooldown_s = cooldown_s
        self.replicas = [
            Replica(u.rstrip("/"), make_client(u.rstrip("/")), asyncio.Semaphore(concurrency)) for u in urls
        ]

    def pick(self, avoid: Collection[str] = ()) -> Replica:
        """The least-loaded replica that is up and not in `avoid`; else the one back soonest."""
        now = time.monotonic()
        candidates = [r for r in self.replicas if r.up(now) and r.url not in avoid] or [
            r for r in self.replicas if r.up(now)
        ]
        if candidates:
            chosen = min(candidates, key=lambda r: (r.assigned, r.picks))
        else:
            chosen = min(self.replicas, key=lambda r: r.down_until)
        chosen.picks += 1
        return chosen

    def any_up(self, avoid: Collection[str]) -> bool:
        now = time.monotonic()
        return any(r.up(now) and r.url not in avoid for r in self.replicas)

    @asynccontextmanager
    async def slot(self, avoid: Collection[str] = ()) -> AsyncIterator[Replica]:
        replica = self.pick(avoid)
        replica.assigned += 1
        try:
            async with replica.gate:
                replica.in_flight += 1
                replica.peak_in_flight = max(replica.peak_in_flight, replica.in_flight)
                try:
                    yield replica
                finally:
                    replica.in_flight -= 1
        finally:
            replica.assigned -= 1

    def failed(self, replica: Replica, why: str) -> None:
        if not replica.up(time.monotonic()):
            return  # already out: a request sent before it was taken out failed too (one outage, one count)
        replica.failures += 1
        replica.taken_out += 1
        factor = min(2 ** (replica.failures - 1), MAX_COOLDOWN_FACTOR)
        replica.down_until = time.monotonic() + self.cooldown_s * factor
        log.warning(
            "vLLM replica %s taken out for %.0fs (%d failures in a row): %s",
            replica.url,
            self.cooldown_s * factor,
            replica.failures,
            why,
        )

    def succeeded(self, replica: Replica) -> None:
        if replica.failures:
            log.info("vLLM replica %s answers again", replica.url)
        replica.failures, replica.down_until = 0, 0.0

    async def close(self) -> None:
        for r in self.replicas:
            await r.client.aclose()
