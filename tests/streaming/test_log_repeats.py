"""The Kafka client libraries' repeated log records are limited; Tailor's own are not."""

from __future__ import annotations

import io
import logging

from streaming.log_repeats import RepeatLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def logger_with(limiter: RepeatLimiter, name: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(limiter)
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log, out


def test_a_flood_is_cut_to_the_burst_and_counted_in_the_next_interval() -> None:
    clock = Clock()
    log, out = logger_with(RepeatLimiter(3, 10.0, clock=clock), "aiokafka.conn")
    for i in range(100):
        log.error("Unable connect to node with id %s: %s", 1, f"refused {i}")
        clock.now += 0.05  # 100 attempts in 5 s
    assert out.getvalue().count("Unable connect") == 3
    log.warning("Unable connect to node with id %s: %s", 1, "refused")  # another level: its own count
    clock.now = 12.0
    log.error("Unable connect to node with id %s: %s", 1, "refused again")
    lines = out.getvalue().splitlines()
    assert len(lines) == 5
    assert lines[-1] == (
        "Unable connect to node with id 1: refused again (97 more like this in the last 10 s were not logged)"
    )


def test_distinct_templates_and_own_loggers_pass() -> None:
    clock = Clock()
    limiter = RepeatLimiter(1, 10.0, clock=clock)
    kafka, kafka_out = logger_with(limiter, "kafka.client")
    for i in range(5):
        kafka.warning(f"template {i}")  # five templates, once each
    assert kafka_out.getvalue().count("template") == 5
    ours, ours_out = logger_with(limiter, "streaming.windows")
    for i in range(50):
        ours.warning("window %s closed late", i)
    assert ours_out.getvalue().count("closed late") == 50
    assert not limiter.limited("kafkaesque") and limiter.limited("faust.transport.consumer")


def test_burst_zero_turns_it_off() -> None:
    log, out = logger_with(RepeatLimiter(0, 10.0, clock=Clock()), "mode.services")
    for _ in range(20):
        log.error("same")
    assert out.getvalue().count("same") == 20
