"""One learning round, as a list of small steps over a shared state:

    DropHeldout → IngestFeedback → BuildData → Train → Judge → Publish

- DropHeldout: candidate groups whose window comes from a recording the benchmark holds out
  (`trainer.heldout`) are dropped (`heldout_dropped`): the gate's benchmark never scores what was trained on.
- IngestFeedback: feedback records into a ledger (unusable ones are reported, not fatal); utilities onto
  the candidates; `reward_before` = mean r_total of the candidates (samples of the current weights).
- BuildData: DPO pairs (explicit preferences first), GRPO prompts, or (SFT, the warm start) the validated
  rows the caller built (`trainer.sft`); too few → the round is skipped.
- Train: DPO, GRPO or SFT; continues the current LoRA when there is one (config), else a fresh LoRA.
- Judge: `evaluate(current)` and `evaluate(candidate)` (per-case scores, or one score each) → the gate
  (`bench_before`, `bench_after` are the means; the decision holds the paired difference and its bootstrap
  interval). The current weights are the store's current version, or the base model when nothing is published yet.
- Publish: the store's next version (a ModelUpdate for the lead to announce), or nothing when refused.
"""

from __future__ import annotations

import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.records import Feedback, ModelUpdate
from trainer.dpo import run_dpo
from trainer.feedback import FeedbackLedger
from trainer.gate import Evaluate, Gate, GateDecision
from trainer.grpo import rule_reward, run_grpo
from trainer.heldout import HeldoutRecordings
from trainer.preferences import (
    CandidateGroup,
    GrpoPrompt,
    PreferencePair,
    build_pairs,
    grpo_prompts,
    with_feedback,
)
from trainer.round_config import RoundConfig
from trainer.sft import SftRow, run_sft
from trainer.store import ModelStore
from trainer.train_base import TrainResult
from trainer.weights import WeightsRef

log = logging.getLogger(__name__)


@dataclass
class RoundResult:
    method: str
    status: str = "running"  # published | refused | skipped
    reason: str = ""
    pairs: int = 0
    prompts: int = 0
    sft_rows: int = 0
    reward_before: float | None = None  # mean r_total of the input candidates
    bench_before: float | None = None  # evaluate(current weights)
    bench_after: float | None = None  # evaluate(candidate weights)
    train: TrainResult | None = None
    decision: GateDecision | None = None
    update: ModelUpdate | None = None
    feedback_errors: list[tuple[str, str]] = field(default_factory=list)  # (reason, detail)
    heldout_dropped: int = 0  # candidate groups dropped: their window is from a benchmark heldout recording
    seconds: dict[str, float] = field(default_factory=dict)  # per step, and "total"


@dataclass
class RoundState:
    groups: list[CandidateGroup]
    feedback: list[Feedback]
    base_model_dir: Path
    store: ModelStore
    work_dir: Path
    evaluate: Evaluate
    config: RoundConfig
    result: RoundResult
    ledger: FeedbackLedger | None = None
    pairs: list[PreferencePair] = field(default_factory=list)
    prompts: list[GrpoPrompt] = field(default_factory=list)
    sft_rows: list[SftRow] = field(default_factory=list)
    current: ModelUpdate | None = None
    current_ref: WeightsRef | None = None
    may_publish: Callable[[], bool] | None = None

    def stop(self, status: str, reason: str) -> None:
        self.result.status, self.result.reason = status, reason


class RoundStep(ABC):
    @abstractmethod
    def run(self, state: RoundState) -> None:
        """Do this step's job on the state; `state.stop(...)` ends the round."""


class DropHeldout(RoundStep):
    def run(self, state: RoundState) -> None:
        if not state.config.exclude_heldout:
            return
        heldout = HeldoutRecordings.load(state.config.heldout_file)
        kept, dropped = heldout.partition(state.groups, lambda g: g.ctx.anchors)
        state.groups = kept
        state.result.heldout_dropped = len(dropped)
        if dropped:
            log.info(
                "dropped %d candidate groups from heldout recordings of case set %s: %s",
                len(dropped),
                heldout.case_set,
                sorted({g.ctx.anchors.key for g in dropped}),
            )


class IngestFeedback(RoundStep):
    def run(self, state: RoundState) -> None:
        ledger = FeedbackLedger(state.config.feedback)
        errors = ledger.add_all(state.feedback)
        state.result.feedback_errors = [(e.reason, e.detail) for e in errors]
        state.ledger = ledger
        state.groups = [with_feedback(g, ledger) for g in state.groups]
        totals = [c.r_total for g in state.groups for c in g.candidates]
        state.result.reward_before = sum(totals) / len(totals) if totals else None


class BuildData(RoundStep):
    def run(self, state: RoundState) -> None:
        cfg = state.config
        if cfg.method == "sft":
            state.result.sft_rows = len(state.sft_rows)
            if len(state.sft_rows) < cfg.min_sft_rows:
                state.stop("skipped", f"too_few_examples: {len(state.sft_rows)} < {cfg.min_sft_rows}")
        elif cfg.method == "dpo":
            explicit = state.ledger.pairs() if state.ledger is not None else []
            state.pairs = build_pairs(state.groups, explicit, cfg.preferences).pairs
            state.result.pairs = len(state.pairs)
            if len(state.pairs) < cfg.min_pairs:
                state.stop("skipped", f"too_few_pairs: {len(state.pairs)} < {cfg.min_pairs}")
        else:
            state.prompts = grpo_prompts(state.groups)
            state.result.prompts = len(state.prompts)
            if len(state.prompts) < cfg.min_prompts:
                state.stop("skipped", f"too_few_prompts: {len(state.prompts)} < {cfg.min_prompts}")


class Train(RoundStep):
    def run(self, state: RoundState) -> None:
        cfg = state.config
        state.current = state.store.current()
        adapter = state.store.resolve(state.current) if state.current is not None else None
        if state.current is not None and state.current.kind != "lora":
            raise ValueError(
                f"current version {state.current.version} is a {state.current.kind} model; "
                "rounds train LoRA adapters on the base model"
            )
        state.current_ref = WeightsRef(
            state.base_model_dir, adapter, state.current.version if state.current is not None else None
        )
        init = adapter if cfg.continue_from_current and not cfg.train.full_finetune else None
        out = state.work_dir / f"round-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        if cfg.method == "dpo":
            state.result.train = run_dpo(state.base_model_dir, state.pairs, cfg.train, out, init)
        elif cfg.method == "sft":
            state.result.train = run_sft(state.base_model_dir, state.sft_rows, cfg.train, out, init)
        else:
            state.result.train = run_grpo(
                state.base_model_dir, state.prompts, rule_reward(state.prompts), cfg.train, out, init
            )


class Judge(RoundStep):
    def run(self, state: RoundState) -> None:
        train, current = state.result.train, state.current_ref
        if train is None or current is None:
            raise RuntimeError("Judge runs after Train")
        candidate = (
            WeightsRef(train.adapter_dir, None, "candidate")
            if train.kind == "full"
            else WeightsRef(state.base_model_dir, train.adapter_dir, "candidate")
        )
        cfg = state.config
        before = state.evaluate(current)
        after = state.evaluate(candidate)
        decision = Gate(cfg.gate_margin, cfg.gate_confidence, cfg.gate_resamples).decide(after, before)
        state.result.bench_before, state.result.bench_after = decision.current_score, decision.candidate_score
        state.result.decision = decision
        if not decision.publish:
            state.stop("refused", decision.detail)


class Publish(RoundStep):
    def run(self, state: RoundState) -> None:
        res, train = state.result, state.result.train
        if train is None:
            raise RuntimeError("Publish runs after Train")
        if state.may_publish is not None and not state.may_publish():
            # a trainer that lost its lease mid-round (evicted, cut off) must not publish beside the new holder
            state.stop("skipped", "lease_lost: another trainer holds the lease")
            return
        metrics = {
            "loss_start": train.loss_start or 0.0,
            "loss_end": train.loss_end or 0.0,
            "steps": float(train.steps),
            "train_seconds": train.seconds,
            **train.metrics,
        }
        for name in ("reward_before", "bench_before", "bench_after"):
            value = getattr(res, name)
            if value is not None:
                metrics[name] = value
        d = res.decision
        if d is not None and d.mean_diff is not None and d.ci_low is not None and d.ci_high is not None:
            metrics.update(
                gate_mean_diff=d.mean_diff,
                gate_ci_low=d.ci_low,
                gate_ci_high=d.ci_high,
                gate_cases=float(d.cases),
            )
        res.update = state.store.publish(
            train.adapter_dir, state.config.base_model_name, metrics, train.trained_on, kind=train.kind
        )
        state.stop("published", res.decision.reason if res.decision is not None else "")


STEPS: tuple[RoundStep, ...] = (DropHeldout(), IngestFeedback(), BuildData(), Train(), Judge(), Publish())


def run_round(
    groups: Sequence[CandidateGroup],
    feedback: Iterable[Feedback],
    *,
    base_model_dir: Path,
    store: ModelStore,
    work_dir: Path,
    evaluate: Evaluate,
    config: RoundConfig | None = None,
    sft_rows: Sequence[SftRow] = (),
    may_publish: Callable[[], bool] | None = None,
) -> RoundResult:
    """One round; the result says whether a new version was published (and why not, otherwise).
    `sft_rows`: the warm start's rows (method "sft"; built and checked by `trainer.sft.build_sft_data`).
    `may_publish`: asked right before publication (the trainer service's lease); false skips the round."""
    cfg = config or RoundConfig()
    state = RoundState(
        list(groups),
        list(feedback),
        Path(base_model_dir),
        store,
        Path(work_dir),
        evaluate,
        cfg,
        RoundResult(cfg.method),
        sft_rows=list(sft_rows),
        may_publish=may_publish,
    )
    started = time.perf_counter()
    for step in STEPS:
        t0 = time.perf_counter()
        step.run(state)
        state.result.seconds[type(step).__name__] = time.perf_counter() - t0
        if state.result.status != "running":
            break
    state.result.seconds["total"] = time.perf_counter() - started
    r = state.result
    log.info(
        "round (%s): %s %s; pairs %d, prompts %d, sft rows %d, bench %s -> %s, %.1fs",
        r.method,
        r.status,
        r.reason,
        r.pairs,
        r.prompts,
        r.sft_rows,
        r.bench_before,
        r.bench_after,
        r.seconds["total"],
    )
    return r
