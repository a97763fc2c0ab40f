"""Broker outage: the broker goes off the network for 20 s while a producer keeps sending and a worker
is consuming. Clients retry with backoff; when the broker is back the worker resumes by itself (no
restart), and every record the producer sent is either acknowledged (and then processed) or reported
to the producer as failed: nothing goes missing silently."""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.ports import free_port
from core.records import RobotStep
from streaming.broker import EmbeddedBroker, metadata_ready
from streaming.broker_config import BrokerConfig
from streaming.faust_transport import SHUTDOWN_OVERDUE_EXIT
from streaming.intent_publish import IntentRequest, publish_intent
from streaming.producer import TailorProducer
from streaming.replay.detect import open_sources
from streaming.replay.runner import media_factory
from streaming.settings import TailorSettings
from tests.streaming.crash_helpers import (
    anchors_on_topic,
    examples_on_topic,
    fresh_settings,
    kill_group,
    letters_on_topic,
    metric_or_zero,
    read_raw,
    start_worker,
    stop_worker,
    wait_until,
)
from tests.streaming.front_door import FrontDoor

log = logging.getLogger(__name__)

OUTAGE_S = 20.0
SEND_EVERY_S = 0.1  # 10 robot steps a second: one Bridge episode (10 steps) a second


@pytest.fixture
def door_broker() -> Iterator[tuple[EmbeddedBroker, FrontDoor]]:
    """A broker of its own (the session broker must stay up) reached through a front door."""
    inner, front = free_port(), free_port()
    door = FrontDoor("127.0.0.1", front, inner)
    door.open()
    broker = EmbeddedBroker(BrokerConfig(broker_port=inner, broker_advertised_port=front))
    broker.start()
    try:
        yield broker, door
    finally:
        door.close()
        broker.stop()


def test_embedded_broker_restarts_on_the_same_port() -> None:
    """stop() + start() (or restart()) comes back where clients look for it; memory:// storage starts empty."""
    from kafka import KafkaConsumer, KafkaProducer

    broker = EmbeddedBroker(BrokerConfig())
    try:
        first = broker.start()
        producer = KafkaProducer(bootstrap_servers=first)
        producer.send("restart-probe", b"x").get(timeout=20)
        producer.close()
        broker.stop()
        host, port = first.split(":")
        assert not metadata_ready(host, int(port))
        assert broker.start() == first
        assert broker.restart() == first
        consumer = KafkaConsumer(bootstrap_servers=first)
        try:
            assert (
                "restart-probe" not in consumer.topics()
            )  # the in-memory engine keeps nothing across a restart
        finally:
            consumer.close()
    finally:
        broker.stop()


@dataclass
class Outcomes:
    """What the producer was told about each record, by (episode, step)."""

    sent: list[tuple[str, int]] = field(default_factory=list)
    acked: set[tuple[str, int]] = field(default_factory=set)
    failed: dict[tuple[str, int], str] = field(default_factory=dict)
    acked_at: dict[tuple[str, int], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, ident: tuple[str, int]) -> None:
        with self.lock:
            self.acked.add(ident)
            self.acked_at[ident] = time.monotonic()

    def fail(self, ident: tuple[str, int], exc: BaseException) -> None:
        with self.lock:
            self.failed[ident] = type(exc).__name__


def bridge_steps(settings: TailorSettings, shared: Path) -> list[RobotStep]:
    path = shared / "data/robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001"
    (source,) = open_sources([path], "robot", media_factory(settings), settings)
    steps = [ev.record for ev in source.events(time.time(), 1.0)]
    assert all(isinstance(s, RobotStep) for s in steps)
    return steps  # type: ignore[return-value]


class SteadyProducer(threading.Thread):
    """Sends Bridge episodes under fresh episode ids at a steady pace until stopped, outage or not."""

    def __init__(self, settings: TailorSettings, steps: list[RobotStep], tag: str) -> None:
        super().__init__(daemon=True)
        assert settings.kafka_bootstrap
        self.producer = TailorProducer.connect(settings.kafka_bootstrap, settings, settings)
        self.steps = steps
        self.tag = tag
        self.outcomes = Outcomes()
        self.halt = threading.Event()
        self.send_errors: list[str] = []

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            step = self.steps[i % len(self.steps)]
            episode = f"{step.episode_id}-{self.tag}{i // len(self.steps)}"
            record = step.model_copy(update={"episode_id": episode, "timestamp": time.time()})
            ident = (episode, step.step_index)
            try:
                fut = self.producer.send(record)
            except Exception as exc:  # send() itself refused (buffer full, metadata timeout): reported too
                self.outcomes.sent.append(ident)
                self.outcomes.fail(ident, exc)
                self.send_errors.append(type(exc).__name__)
            else:
                self.outcomes.sent.append(ident)
                fut.add_callback(lambda _md, ident=ident: self.outcomes.ack(ident))
                fut.add_errback(lambda exc, ident=ident: self.outcomes.fail(ident, exc))
            i += 1
            self.halt.wait(SEND_EVERY_S)

    def finish(self, timeout_s: float) -> None:
        """Stop sending and wait for every outcome; a flush that times out leaves records unreported (the
        test then fails on them)."""
        from kafka.errors import KafkaTimeoutError

        self.halt.set()
        self.join(10)
        try:
            self.producer.producer.flush(timeout=timeout_s)
        except KafkaTimeoutError:
            log.error("%s: flush timed out with records neither acknowledged nor failed", self.tag)
        self.shut()

    def shut(self) -> None:
        """Close without waiting (kafka-python's close() raises instead when records are pending)."""
        from kafka.errors import KafkaTimeoutError

        self.halt.set()
        self.join(10)
        client = self.producer.producer
        try:
            client.close(timeout=0)
        except KafkaTimeoutError:
            client._sender.force_close()


def test_twenty_second_broker_outage_while_producing_and_consuming(
    settings: TailorSettings, door_broker: tuple[EmbeddedBroker, FrontDoor], shared_dir: Path, tmp_path: Path
) -> None:
    broker, door = door_broker
    s = fresh_settings(settings.model_copy(update={"kafka_bootstrap": broker.bootstrap}), tmp_path)
    wp = start_worker(s, tmp_path / "worker.log")
    producers: list[SteadyProducer] = []
    try:
        publish_intent(s, IntentRequest(text="next subtask data from my robot", domain="robot"))
        steps = bridge_steps(s, shared_dir)
        # the default producer helper (records wait out the outage), and one whose records time out during it
        patient = SteadyProducer(s, steps, "p")
        hasty = SteadyProducer(
            s.model_copy(update={"kafka_request_timeout_s": 3.0, "kafka_delivery_timeout_s": 8.0}), steps, "h"
        )
        producers += [patient, hasty]
        for p in producers:
            p.start()
        assert wait_until(
            lambda: metric_or_zero(wp, "tailor_examples_total", result="accepted") >= 2, 60, 0.2
        ), wp.log()[-3000:]

        # the outage: connections reset, new ones refused, for 20 s; the producers keep sending
        door.close()
        down_at = time.monotonic()
        sent_before = len(patient.outcomes.sent)
        assert not metadata_ready("127.0.0.1", door.port)
        time.sleep(OUTAGE_S)
        assert wp.proc.poll() is None, "the worker died during the outage"
        sent_during = len(patient.outcomes.sent) - sent_before
        door.open()
        back_at = time.monotonic()

        # after the outage: the same worker process resumes; new episodes become examples
        marker = len(patient.outcomes.sent)
        time.sleep(8)
        for p in producers:
            p.finish(timeout_s=150)
        after_ids = {ep for ep, _i in patient.outcomes.sent[marker:]}
        assert after_ids

        def resumed() -> bool:
            keys = {e.window_id.split(":", 1)[1].rsplit(":", 1)[0] for e, _raw in examples_on_topic(s)}
            return bool(keys & after_ids)

        assert wait_until(resumed, 90, 1.0), (
            f"no examples from input sent after the outage:\n{wp.log()[-4000:]}"
        )
        resumed_s = time.monotonic() - back_at
        assert wp.proc.poll() is None
        assert "tailor_up 1.0" in wp.metrics_text()

        # every record sent was either acknowledged or reported failed to its producer
        for p in producers:
            out = p.outcomes
            assert len(out.sent) == len(set(out.sent))
            assert out.acked.isdisjoint(out.failed)
            untold = set(out.sent) - out.acked - set(out.failed)
            assert not untold, f"{p.tag}: {len(untold)} records the producer was never told about"
        assert not patient.outcomes.failed, "an outage shorter than the delivery timeout failed records"
        assert len(hasty.outcomes.failed) > 0, "records past their delivery timeout were not reported failed"

        # every acknowledged record is on the topic and was processed: in an anchored window, or dead-lettered
        on_topic = {
            (r.episode_id, r.step_index)
            for r in (RobotStep.from_bytes(m.value) for m in read_raw(s, s.topic_raw_robot))
        }
        for p in producers:
            assert p.outcomes.acked <= on_topic

        def accounted() -> tuple[int, int]:
            windows = {a.window_id: a for a in anchors_on_topic(s)}
            letters = [d for d in letters_on_topic(s) if d.source_topic == s.topic_raw_robot]
            return sum(a.num_frames for a in windows.values()), len(letters)

        assert wait_until(lambda: sum(accounted()) >= len(on_topic), 90, 1.0), (accounted(), len(on_topic))
        in_windows, dead = accounted()
        assert in_windows + dead == len(on_topic)
        po, ho = patient.outcomes, hasty.outcomes
        held = po.sent[sent_before:marker]  # sent while the broker was away
        caught_up = max(po.acked_at[i] for i in held) - back_at
        log.warning(
            "broker outage %.0fs: default producer sent %d (%d during the outage), %d acknowledged (those "
            "sent during the outage all within %.1fs of the broker's return), %d failed; short-timeout "
            "producer sent %d, %d acknowledged, "
            "%d reported failed %s; %d records on the topic, %d in anchored windows, %d dead-lettered; first "
            "example from post-outage input %.1fs after the broker returned",
            OUTAGE_S,
            len(po.sent),
            sent_during,
            len(po.acked),
            caught_up,
            len(po.failed),
            len(ho.sent),
            len(ho.acked),
            len(ho.failed),
            sorted(set(ho.failed.values())),
            len(on_topic),
            in_windows,
            dead,
            resumed_s,
        )
        assert back_at - down_at >= OUTAGE_S
        # the client libraries' repeated records are limited (log_repeat_burst per template per 10 s): one
        # outage wrote 2,300-3,300 lines before the limit
        client_lines = [
            line
            for line in wp.log().splitlines()
            if re.search(r" (?:aiokafka|kafka|faust|mode)(?:\.[\w.]+)?: ", line)
        ]
        log.warning("worker log: %d lines from the Kafka client libraries", len(client_lines))
        assert len(client_lines) < 400, "\n".join(client_lines[-40:])
        assert any("were not logged" in line for line in client_lines), "\n".join(client_lines[-40:])
        # reconnect backoff capped at kafka_reconnect_backoff_max_s (2 s), not the library's 30 s
        assert caught_up < 20, f"records held during the outage went out only {caught_up:.1f}s after it"
    finally:
        for p in producers:
            p.shut()  # no client left retrying after the test
        stop_worker(wp)


def test_worker_stops_on_sigterm_while_the_broker_is_away(
    settings: TailorSettings, door_broker: tuple[EmbeddedBroker, FrontDoor], tmp_path: Path
) -> None:
    """An operator stopping a worker during an outage gets it stopped: no hang waiting for a commit or a
    leave-group that cannot be sent."""
    broker, door = door_broker
    s = fresh_settings(settings.model_copy(update={"kafka_bootstrap": broker.bootstrap}), tmp_path)
    wp = start_worker(s, tmp_path / "worker.log")
    try:
        time.sleep(5)  # the group joined, agents running
        door.close()
        time.sleep(3)
        stopping = time.monotonic()
        wp.proc.terminate()
        try:
            rc = wp.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker did not stop within 60 s of SIGTERM:\n{wp.log()[-3000:]}")
        took = time.monotonic() - stopping
        log.warning("SIGTERM with the broker away: worker exited rc=%s after %.1fs", rc, took)
        # a clean stop, or the shutdown watchdog's status once shutdown_timeout_s (25 s) has passed
        assert rc in (0, SHUTDOWN_OVERDUE_EXIT), wp.log()[-3000:]
    finally:
        kill_group(wp)
