"""`tailor bench scale`: the parts that need no live group (the live mechanics, workers sharing one group and
their partitions, are what tests/streaming/test_many_workers.py runs)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import ValidationError

from bench.scale import complete, eps_by_count, ratios, schedule, series
from bench.scale_config import ScaleBenchConfig
from core.metrics import TailorMetrics


def test_holdings_are_read_from_the_lag_gauge_as_the_worker_serves_it() -> None:
    metrics = TailorMetrics(CollectorRegistry())
    for p in (3, 7):
        metrics.consumer_lag.labels("x.raw.robot", str(p)).set(p)
    metrics.consumer_lag.labels("x.raw.gui", "1").set(0)
    text = generate_latest(metrics.registry).decode()
    held = sorted(
        int(lab["partition"])
        for lab, _v in series(text, "tailor_consumer_lag_messages")
        if lab["topic"] == "x.raw.robot"
    )
    assert held == [3, 7]
    assert series(text, "tailor_consumer_lag_messages")[0][1] in (0.0, 3.0, 7.0)


def test_a_group_is_complete_when_every_worker_holds_partitions_and_each_is_held_once() -> None:
    assert complete([[0, 2], [1, 3]], 4)
    assert not complete([[0, 1, 2, 3], []], 4)  # a worker without partitions: not joined yet
    assert not complete([[0, 1], [1, 2, 3]], 4)  # a stale series of a revoked partition
    assert not complete([[0], [1]], 4)


def test_ratios_are_against_the_one_worker_median() -> None:
    points = [
        {"workers": n, "eps": e}
        for n, e in ((1, 100.0), (2, 150.0), (3, 90.0), (3, 96.0), (2, 130.0), (1, 80.0), (1, 120.0))
    ]
    eps = eps_by_count(points)
    assert eps == {"1": 100.0, "2": 140.0, "3": 93.0}
    assert ratios(eps) == {"1": 1.0, "2": 1.4, "3": 0.93}


def test_rounds_alternate_the_order() -> None:
    assert schedule((1, 2, 3), 1) == [1, 2, 3]
    assert schedule((1, 2, 3), 3) == [1, 2, 3, 3, 2, 1, 1, 2, 3]


def test_the_baseline_must_be_measured() -> None:
    with pytest.raises(ValidationError):
        ScaleBenchConfig(workers=(2, 3))
    with pytest.raises(ValidationError):
        ScaleBenchConfig(workers=(1, 1, 2))
    quick = ScaleBenchConfig.make(True, seconds=None, workers=None)
    assert quick.workers == (1, 2) and quick.seconds == 8.0
    assert ScaleBenchConfig.make(True, workers=(1, 3)).workers == (1, 3)
