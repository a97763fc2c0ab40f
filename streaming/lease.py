"""A leader lease through Kafka: the member of one consumer group that is assigned the only partition of a
one-partition topic holds the lease.

Why a consumer group and not a lock file in the model store: the group coordinator already does what a lease
needs on every Kafka a deployment can reach (no shared filesystem assumed, no clock compared between
machines). A holder that exits cleanly leaves the group and the partition moves at once; a holder that is
SIGKILLed, hangs or loses the broker stops heartbeating and the coordinator evicts it after the session
timeout (`kafka_session_timeout_s`), then assigns the partition to a standby.

The cooperative-sticky assignor keeps the partition where it is when a standby joins (an eager assignor
would revoke it from everyone and may hand it to the newcomer mid-round), and it never assigns the partition
to a new owner before the old one has revoked it.

A dedicated thread polls the consumer, so a long training round does not let `max_poll_interval` expire and
the lease is held for as long as the process lives and talks to the broker. `held()` also turns false on
its own when no heartbeat was sent for a session timeout (a holder cut off from the broker must assume the
coordinator has evicted it), so callers check it again right before a side effect (publication).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from streaming.kafka_clients import kafka_python_kwargs
from streaming.kafka_config import KafkaConfig

if TYPE_CHECKING:
    from streaming.settings import TailorSettings

log = logging.getLogger(__name__)

_POLL_MS = 200


def ensure_lease_topic(cfg: KafkaConfig, bootstrap: str, topic: str, replication_factor: int) -> None:
    """The lease topic with exactly one partition (its one partition is the lease)."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(client_id="tailor-lease-admin", **kafka_python_kwargs(cfg, bootstrap))
    try:
        if topic in set(admin.list_topics()):
            return
        try:
            admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=replication_factor)])
        except TopicAlreadyExistsError:  # another holder-to-be won the race
            pass
    finally:
        admin.close()


class KafkaLease:
    """Start it, ask `held()`, stop it. Membership lives in a daemon thread (see the module doc)."""

    def __init__(self, cfg: KafkaConfig, bootstrap: str, topic: str, group: str) -> None:
        self.cfg, self.bootstrap, self.topic, self.group = cfg, bootstrap, topic, group
        self._assigned = threading.Event()
        self._stop = threading.Event()
        self._consumer: Any = None
        self._thread: threading.Thread | None = None
        self.acquired_total = 0

    def start(self) -> KafkaLease:
        from kafka import ConsumerRebalanceListener, KafkaConsumer
        from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor

        lease = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                if revoked:
                    lease._set(False, "revoked")

            def on_partitions_assigned(self, assigned: Any) -> None:
                if assigned:  # cooperative: only the newly added partitions are listed
                    lease._set(True, "assigned")

            def on_partitions_lost(self, lost: Any) -> None:
                if lost:
                    lease._set(False, "lost (evicted from the group)")

        session_ms = int(self.cfg.kafka_session_timeout_s * 1000)
        self._consumer = KafkaConsumer(
            **kafka_python_kwargs(self.cfg, self.bootstrap),
            group_id=self.group,
            client_id=f"{self.group}-member",
            enable_auto_commit=False,
            partition_assignment_strategy=[CooperativeStickyAssignor],
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(100, session_ms // 3),
        )
        self._consumer.subscribe([self.topic], listener=Listener())
        self._thread = threading.Thread(target=self._run, name=f"lease-{self.group}", daemon=True)
        self._thread.start()
        return self

    def _set(self, held: bool, why: str) -> None:
        if held and not self._assigned.is_set():
            self.acquired_total += 1
        (self._assigned.set if held else self._assigned.clear)()
        log.info("lease %s on %s: %s", self.group, self.topic, why)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                # the lease topic stays empty: polling only keeps the membership (and runs the listener)
                self._consumer.poll(timeout_ms=_POLL_MS)
            except Exception as exc:  # the broker away: the membership times out, the next poll rejoins
                log.warning("lease %s: poll failed: %s", self.group, exc)
                time.sleep(_POLL_MS / 1000)

    def _heartbeat_age_s(self) -> float:
        for group, values in self._consumer.metrics().items():
            if group.endswith("coordinator-metrics") and "last-heartbeat-seconds-ago" in values:
                return float(values["last-heartbeat-seconds-ago"])
        return 0.0

    def held(self) -> bool:
        """Whether this process holds the lease now."""
        if not self._assigned.is_set() or self._consumer is None:
            return False
        # just assigned, no heartbeat yet: the metric counts from -inf; the join itself was the contact
        age = self._heartbeat_age_s()
        return age == float("inf") or age < self.cfg.kafka_session_timeout_s

    def wait(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the lease; whether it is held."""
        self._assigned.wait(timeout_s)
        return self.held()

    def stop(self) -> None:
        """Leave the group: a standby gets the partition at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._consumer is not None:
            self._consumer.close()
        self._assigned.clear()


def trainer_lease(settings: TailorSettings) -> KafkaLease:
    """The lease that lets one trainer of the deployment run rounds (group `<app_id>-trainer-lease`)."""
    assert settings.kafka_bootstrap
    ensure_lease_topic(
        settings, settings.kafka_bootstrap, settings.trainer_lease_topic, settings.replication_factor
    )
    return KafkaLease(
        settings, settings.kafka_bootstrap, settings.trainer_lease_topic, f"{settings.app_id}-trainer-lease"
    )
