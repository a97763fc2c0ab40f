"""Where the Kafka cluster is: the configured one, the embedded broker of a running `tailor up`,
or a new embedded broker owned by this process."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from streaming.broker import EmbeddedBroker
from streaming.settings import TailorSettings

log = logging.getLogger(__name__)


class NoBrokerError(RuntimeError):
    pass


def broker_file(settings: TailorSettings) -> Path:
    return settings.data_dir / "broker.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_embedded_bootstrap(settings: TailorSettings) -> str | None:
    """The embedded broker announced by a live `tailor up` in the same data dir, if any."""
    path = broker_file(settings)
    try:
        info = json.loads(path.read_text())
        pid, bootstrap = int(info["pid"]), str(info["bootstrap"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return bootstrap if _pid_alive(pid) else None


def resolve_bootstrap(settings: TailorSettings) -> TailorSettings:
    """Settings with a bootstrap address for commands that need a running cluster."""
    if settings.kafka_bootstrap:
        return settings
    found = running_embedded_bootstrap(settings)
    if found is None:
        raise NoBrokerError(
            "no Kafka cluster: set TAILOR_KAFKA_BOOTSTRAP, or start `tailor up` (embedded broker) first"
        )
    return settings.model_copy(update={"kafka_bootstrap": found})


@contextlib.contextmanager
def owned_cluster(settings: TailorSettings, announce: bool = False) -> Iterator[TailorSettings]:
    """Yield settings with a bootstrap: the configured cluster, or an embedded broker we start and stop."""
    if settings.kafka_bootstrap:
        yield settings
        return
    broker = EmbeddedBroker(settings)
    bootstrap = broker.start()
    path = broker_file(settings)
    try:
        if announce:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"pid": os.getpid(), "bootstrap": bootstrap}))
        yield settings.model_copy(update={"kafka_bootstrap": bootstrap})
    finally:
        if announce:
            path.unlink(missing_ok=True)
        broker.stop()
