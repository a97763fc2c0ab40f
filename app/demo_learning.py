"""The end of `tailor demo`: the loop learning from what the first pass produced.

1. A short supervised warm start (the rules' answers to the first pass's jobs as teacher, plus the benchmark's
   dev references; never a heldout recording), gated on the heldout split.
2. One preference round on the first pass's candidate groups (the student probe's feedback included),
   continuing the warm start, gated again (the warm start is not scored twice: `trainer.gate.remembered`).
3. The worker hot-reloads the newest published adapter (announced on the model-updates topic; the demo
   waits until the worker's `tailor_model_version_info` shows it).
4. A second pass replays the heldout recordings among the inputs (keys suffixed `-r1`, so they open new
   windows): recordings neither training step saw.
5. Before and after: the stream's acceptance of model candidates on those recordings (sampled, as the workers
   sample) for the base weights (first pass) and the trained ones (second pass), and the gate's heldout
   S_accepted (greedy, every heldout case) of each.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.demo_config import DemoConfig
from app.demo_wait import wait_serving, wait_settled
from app.trainer_service import describe_round, quality_evaluator, run_train_once
from core.records import Example, RejectedExample
from streaming.reload_stage import model_store_root
from streaming.replay.runner import replay
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from streaming.topic_reader import read_topic
from trainer.gate import remembered
from trainer.heldout import HeldoutRecordings
from trainer.store import ModelStore

log = logging.getLogger(__name__)

SECOND_PASS = 1  # the replay round of the second pass: keys get the suffix -r1


@dataclass(frozen=True)
class Acceptance:
    """Distinct model candidates of one weights version on the heldout recordings, and how many passed."""

    weights: str
    candidates: int
    accepted: int

    @property
    def rate(self) -> float | None:
        return self.accepted / self.candidates if self.candidates else None

    def line(self, s_accepted: float | None) -> str:
        rate = f"{self.rate:.1%}" if self.rate is not None else "n/a"
        bench = f"{s_accepted:.3f}" if s_accepted is not None else "n/a"
        return (
            f"  {self.weights:<12} stream acceptance {self.accepted}/{self.candidates} ({rate}); "
            f"heldout S_accepted {bench}"
        )


def window_recording(window_id: str) -> tuple[str, str]:
    """(domain, key) of a window id `domain:key:seq` (keys may hold colons: `<tfrecord>:<episode>`)."""
    domain, rest = window_id.split(":", 1)
    return domain, rest.rsplit(":", 1)[0]


def acceptance(
    accepted: Sequence[Example],
    rejected: Sequence[RejectedExample],
    weights: str | None,
    recordings: frozenset[tuple[str, str]],
    suffix: str = "",
) -> Acceptance:
    """Distinct model candidates (not the rules') of `weights` (None: the base) on windows of `recordings`,
    their keys carrying `suffix`; a candidate text sampled twice counts once."""
    wanted = {(domain, key + suffix) for domain, key in recordings}

    def ids(records: Sequence[Example | RejectedExample]) -> set[str]:
        return {
            r.example_id
            for r in records
            if r.model != "rules" and r.weights_version == weights and window_recording(r.window_id) in wanted
        }

    ok = ids(accepted)
    return Acceptance(weights or "base", len(ok | ids(rejected)), len(ok))


def _topics(settings: TailorSettings) -> tuple[list[Example], list[RejectedExample]]:
    return (
        read_topic(settings, settings.topic_examples, Example),
        read_topic(settings, settings.topic_rejected, RejectedExample),
    )


def _round(settings: TailorSettings, evaluate: Any, **update: Any) -> Any:
    result = run_train_once(settings.model_copy(update=update), evaluate=evaluate)
    print(describe_round(result), flush=True)
    return result


def learn_and_replay(
    live: TailorSettings, config: DemoConfig, port: int, worker: subprocess.Popen[bytes], inputs: list[Any]
) -> list[str]:
    """Warm start, one round, hot reload, second pass; the before/after lines to print."""
    quick = config.quick
    evaluate = remembered(quality_evaluator(live))
    common = {"gate_max_new_tokens": config.gate_max_new_tokens}
    teacher = "its accepted model outputs, " if config.sft_accepted else ""
    print(
        f"learning: warm start (SFT) on the rules' answers to the first pass's jobs, {teacher}and the "
        "benchmark's dev references",
        flush=True,
    )
    warm = _round(
        live,
        evaluate,
        train_method="sft",
        sft_accepted=config.sft_accepted,
        sft_max_steps=config.quick_sft_steps if quick else config.sft_steps,
        **common,
    )
    method = live.train_method if live.train_method != "sft" else "dpo"
    print(f"learning: one {method} round on the first pass's candidate groups", flush=True)
    rnd = _round(
        live,
        evaluate,
        train_method=method,
        probe_examples=config.probe_examples,
        train_max_steps=config.quick_train_steps if quick else config.train_steps,
        **common,
    )
    by_version = {r.update.version: r.bench_after for r in (warm, rnd) if r.update is not None}
    held = HeldoutRecordings.load().keys
    before = acceptance(*_topics(live), None, held)
    lines = [
        "learning, on the heldout recordings (never trained on):",
        before.line(warm.bench_before if warm.bench_before is not None else rnd.bench_before),
    ]
    current = ModelStore(model_store_root(live)).current()
    if current is None:
        return [*lines, "  no adapter passed the gate: nothing to reload, no second pass"]
    if not wait_serving(port, current.version, worker, config.reload_wait_s):
        return [*lines, f"  the worker did not report {current.version} within {config.reload_wait_s:.0f}s"]
    print(
        f"learning: the worker serves {current.version}; second pass over the heldout recordings", flush=True
    )
    result = replay(
        live,
        ReplayConfig(
            paths=inputs,
            rate=config.rate,
            progress=sys.stderr.isatty(),
            keys=tuple(sorted(k for _, k in held)),
            first_round=SECOND_PASS,
        ),
    )
    log.info("second pass: replayed %d records", result.published)
    for skipped in result.skipped:
        print(f"demo: second pass {skipped}", file=sys.stderr, flush=True)
    settled = wait_settled(live, port, worker, config.wait_seconds)
    after = acceptance(*_topics(live), current.version, held, suffix=f"-r{SECOND_PASS}")
    lines.append(after.line(by_version.get(current.version)))
    if not settled:
        lines.append("  the second pass did not settle in time: its acceptance counts what was done")
    return lines
