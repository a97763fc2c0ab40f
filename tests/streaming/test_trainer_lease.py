"""One trainer runs rounds: two `tailor trainer` processes on the real broker, only the lease holder rounds;
SIGKILL the holder and the standby takes over within about a session timeout."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

from app.trainer_service import stop_on_sigterm
from core.records import RejectedExample
from streaming.producer import TailorProducer
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics
from tests.conftest import WorkerProcess, start_worker_process, stop_worker_process

ROUNDS = "tailor_trainer_rounds_total"
LEADER = "tailor_trainer_leader"
SESSION_S = 3.0


def wait_for(check, timeout_s: float, what: str) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if check():
            return time.monotonic() - t0
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def candidate(settings: TailorSettings, n: int) -> None:
    """One new rejected candidate: the service's trigger for a round (it has no window, so the round is a quick
    `too_few_pairs` skip: what is measured here is who runs rounds, not what they train)."""
    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as p:
        p.send(
            RejectedExample(
                example_id=f"x{n}",
                task_family="world_model_sample",
                window_id=f"robot:ep{n}:0",
                reasons=["frame_out_of_window"],
                raw_output="{}",
                model="test",
                rewards={"r_total": 0.0},
                created_at=time.time(),
            )
        )


def test_one_trainer_runs_rounds_and_a_standby_takes_over_a_killed_holder(
    settings: TailorSettings, tmp_path: Path
) -> None:
    live = settings.model_copy(
        update={
            "train_poll_s": 0.3,
            "train_every_pairs": 1,
            "sft_min_examples": 1_000_000,  # never the SFT warm start
            "probe_enabled": False,
            "kafka_session_timeout_s": SESSION_S,
        }
    )
    argv = ("-m", "app.cli", "trainer")
    a = start_worker_process(live, tmp_path / "a.log", argv)
    b: WorkerProcess | None = None
    c: WorkerProcess | None = None
    try:
        wait_for(lambda: a.metric(LEADER) == 1, 30, "the first trainer to take the lease")
        b = start_worker_process(live, tmp_path / "b.log", argv)
        # b joins the group as a standby meanwhile. This slept one session timeout; in one full suite run a's
        # lease was revoked about 6.5 s after b's /metrics came up, just after a's round, presumably at b's late
        # join (not reproduced in five runs since, two under CPU load), so b's join gets three
        time.sleep(3 * SESSION_S)
        candidate(live, 1)
        wait_for(lambda: a.metric(ROUNDS) >= 1, 60, "the holder's round")
        time.sleep(3.0)  # ten polls of b: without the lease it would have run the same round by now
        assert a.metric(LEADER) == 1 and b.metric(LEADER) == 0
        assert b.metric(ROUNDS) == 0, b.log()[-2000:]
        assert "round (dpo): skipped" in a.log()
        assert "revoked" not in a.log()  # the standby's join left the lease where it was (cooperative-sticky)

        a.proc.kill()  # SIGKILL: no goodbye to the group; the coordinator evicts it after the session timeout
        a.proc.wait()
        took = wait_for(lambda: b.metric(LEADER) == 1, 6 * SESSION_S, "the standby to take the lease")
        wait_for(lambda: b.metric(ROUNDS) >= 1, 60, "the new holder's round")
        # a rolling update: SIGTERM makes the holder leave the group, so the next standby need not wait for expiry
        c = start_worker_process(live, tmp_path / "c.log", argv)
        # c is up (its loop reports 0) and has had time to join as a standby; on a busy machine the start
        # alone can take longer than a session timeout, so wait for it rather than sleep a fixed time
        wait_for(lambda: c.metric(LEADER) == 0, 60, "the third trainer to start as a standby")
        time.sleep(2 * SESSION_S)
        assert c.metric(LEADER) == 0
        b.proc.terminate()
        handover = wait_for(lambda: c.metric(LEADER) == 1, 6 * SESSION_S, "the lease after SIGTERM")
        assert b.proc.wait(timeout=20) == 0
        assert "revoked" in b.log()  # it gave the lease up on its way out (it never lost it before)
        print(
            f"standby took the lease {took:.1f}s after SIGKILL of the holder, {handover:.1f}s after SIGTERM "
            f"(session timeout {SESSION_S}s)"
        )
    finally:
        for wp in (a, b, c):
            if wp is not None and wp.proc.poll() is None:
                stop_worker_process(wp)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_sigterm_ignored_inside_a_finaliser_still_stops_the_trainer() -> None:
    """Python ignores an exception raised while a `__del__` runs, SIGTERM's SystemExit included (one suite run:
    "Exception ignored in BaseEventLoop.__del__ ... SystemExit", and the holder ran on, keeping the lease); the
    handler's flag still ends the service's loop at its next poll."""
    stop = threading.Event()
    handler = stop_on_sigterm(stop)

    class Finalised:
        def __del__(self) -> None:
            handler(signal.SIGTERM, None)

    Finalised()  # dropped at once: its SystemExit is reported as ignored, not raised here
    assert stop.is_set()
    with pytest.raises(SystemExit):  # anywhere else it unwinds a round in progress at once
        handler(signal.SIGTERM, None)
