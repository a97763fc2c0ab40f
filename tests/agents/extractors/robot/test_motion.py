"""Contact / lift proxies and stalls on constructed trajectories."""

from __future__ import annotations

import numpy as np

from agents.extractors.robot.contact_lift import ContactLiftExtractor, best_rise, settle_index
from agents.extractors.robot.stall import StallExtractor, still_runs
from agents.extractors.robot.stall_config import StallConfig
from tests.agents.extractors.robot.helpers import robot_window


def line(n: int, z0: float = 0.1, dz: float = 0.0, dx: float = 0.01) -> list[tuple[float, float, float]]:
    return [(dx * i, 0.0, z0 + dz * i) for i in range(n)]


def test_lift_while_closed_and_contact_when_closing_stops_short() -> None:
    xyz = line(6, z0=0.05, dz=-0.005) + [(0.05, 0.0, 0.025 + 0.02 * i) for i in range(6)]
    width = [0.08] * 5 + [0.06, 0.05, 0.045, 0.045, 0.045, 0.045, 0.045]
    anchors = ContactLiftExtractor()(robot_window(xyz, width))
    kinds = {a.type: a for a in anchors}
    assert set(kinds) == {"contact", "lift"}
    contact, lift = kinds["contact"], kinds["lift"]
    assert contact.frame_index == 7 and contact.value is not None and 0.5 < contact.value < 0.6
    assert lift.frame_index == 6 and lift.end_frame_index == 11
    assert lift.value is not None and abs(lift.value - 0.1) < 1e-9


def test_no_contact_for_a_full_close_or_a_binary_command_and_no_lift_while_open() -> None:
    xyz = line(12, dz=0.01)  # rising all along
    full_close = [1.0] * 6 + [0.5, 0.05, 0.0, 0.0, 0.0, 0.0]
    anchors = ContactLiftExtractor()(robot_window(xyz, full_close))
    assert [a.type for a in anchors] == ["lift"]  # closed and rising, but closed fully: no contact
    assert anchors[0].frame_index == 7
    assert ContactLiftExtractor()(robot_window(xyz, [1.0] * 12)) == []  # open all along: no lift


def test_closing_still_moving_at_the_end_is_not_contact() -> None:
    xyz = line(10)
    closing = [1.0] * 6 + [0.85, 0.6, 0.4, 0.26]
    assert [a.type for a in ContactLiftExtractor()(robot_window(xyz, closing))] == []


def test_settle_and_rise_helpers() -> None:
    closing = -np.array([1.0, 0.6, 0.5, 0.5, 0.5])  # a width falling to rest at 0.5
    assert settle_index(closing, 1, 4, 2, 0.01) == 2
    assert settle_index(closing, 0, 2, 2, 0.01) is None  # still closing when the span ends
    assert settle_index(closing, 1, 4, 2, 0.15) == 1
    z = np.array([0.3, 0.1, 0.2, 0.05, 0.25, 0.2])
    assert best_rise(z, 0, 5) == (3, 4, 0.2)


def test_stall_spans_skip_the_final_rest() -> None:
    moving = line(10)
    resting = [moving[-1]] * 8
    again = [(0.09 + 0.01 * i, 0.0, 0.1) for i in range(1, 11)]
    end_rest = [again[-1]] * 6
    w = robot_window(moving + resting + again + end_rest)
    anchors = StallExtractor()(w)
    assert [(a.frame_index, a.end_frame_index) for a in anchors] == [(9, 17)]
    assert anchors[0].value == 9.0
    runs = still_runs(np.array(moving + resting + again + end_rest), StallConfig())
    assert [(a, b) for a, b, _ in runs] == [(9, 17), (27, 33)]  # the last one is the finished robot


def test_short_pauses_and_slow_motion_are_not_stalls() -> None:
    slow = line(20, dx=0.004)
    assert StallExtractor()(robot_window(slow)) == []
    pause = line(8) + [line(8)[-1]] * 3 + [(0.07 + 0.01 * i, 0.0, 0.1) for i in range(1, 10)]
    assert StallExtractor()(robot_window(pause)) == []
