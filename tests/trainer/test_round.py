"""Learning rounds for real: SmolLM2-135M, TRL, LoRA on CPU, Bridge windows, held-out preference margin as
the benchmark. A DPO round publishes v1; a GRPO round continuing from v1 is refused by a strict gate."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

from tests.trainer.conftest import REAL_EVAL, PublishedRound
from trainer.evaluate import MarginBench
from trainer.preferences import CandidateGroup
from trainer.round import run_round
from trainer.round_config import RoundConfig
from trainer.train_config import TrainConfig
from trainer.weights import ADAPTER_CONFIG, ADAPTER_WEIGHTS

log = logging.getLogger(__name__)

pytestmark = pytest.mark.slow


def test_dpo_round_trains_improves_the_heldout_margin_and_publishes(dpo_round: PublishedRound) -> None:
    r = dpo_round.result
    assert r.train is not None, r.reason
    log.warning(
        "DPO round: %s; bench %.4f -> %.4f; loss %.4f -> %.4f; seconds %s",
        r.status,
        r.bench_before,
        r.bench_after,
        r.train.loss_start,
        r.train.loss_end,
        {k: round(v, 1) for k, v in r.seconds.items()},
    )
    assert r.status == "published", r.reason
    assert r.pairs >= 4 and r.train is not None and r.train.steps == 2
    assert r.feedback_errors == [("empty_ids", "bad-1: batch_metric names no example")]
    assert r.reward_before is not None and -2.0 <= r.reward_before < 2.0  # invalid candidates score <= 0
    assert r.bench_before is not None and r.bench_after is not None
    assert r.bench_after > r.bench_before  # held-out pairs: the grounded answer became likelier than the rest
    assert (
        r.decision is not None and r.decision.reason == "improved"
    )  # a scalar gain > 0 (one paired observation)
    assert r.heldout_dropped >= 1  # the Bridge episodes of the benchmark's heldout split were not trained on
    update = r.update
    assert update is not None and update.version == "v1" and update.rollback_of is None
    assert (
        set(update.trained_on) == set(r.train.trained_on) and update.metrics["bench_after"] == r.bench_after
    )
    folder = dpo_round.store.resolve(update)
    assert sorted(p.name for p in folder.iterdir()) == [ADAPTER_CONFIG, ADAPTER_WEIGHTS, "manifest.json"]
    assert dpo_round.store.current() == update


def test_grpo_round_continues_v1_and_a_strict_gate_refuses_it(
    dpo_round: PublishedRound, smol_dir: Path, groups: list[CandidateGroup], tmp_path: Path
) -> None:
    store = dpo_round.store
    before = store.history()
    train = TrainConfig(
        trl_overrides={
            "max_steps": 2,
            "per_device_train_batch_size": 2,
            "num_generations": 2,
            "max_completion_length": 48,
            "learning_rate": 1e-4,
        }
    )
    config = RoundConfig(method="grpo", train=train, gate_margin=-10.0)  # demands +10 on the margin bench
    r = run_round(
        groups[:2],
        [],
        base_model_dir=smol_dir,
        store=store,
        work_dir=tmp_path,
        evaluate=MarginBench(dpo_round.heldout, REAL_EVAL),
        config=config,
    )
    log.warning(
        "GRPO round: %s (%s); reward %s -> %s; seconds %s",
        r.status,
        r.reason,
        r.train.metrics.get("reward_start") if r.train else None,
        r.train.metrics.get("reward_end") if r.train else None,
        {k: round(v, 1) for k, v in r.seconds.items()},
    )
    assert r.status == "refused" and r.update is None
    assert r.decision is not None and not r.decision.publish
    # "tie": with equal rewards for every completion GRPO has no advantage to learn from, and the adapter is
    # unchanged; an unchanged adapter is never published
    assert r.decision.reason in ("gain_below_margin", "worse_than_current", "tie")
    assert r.prompts == 2 and r.train is not None and r.train.steps == 2
    assert sorted(p.name for p in r.train.adapter_dir.iterdir()) == [ADAPTER_CONFIG, ADAPTER_WEIGHTS]
    assert math.isfinite(r.train.metrics["reward_start"])
    assert r.bench_before == pytest.approx(
        dpo_round.result.bench_after, abs=1e-6
    )  # current = v1, measured again
    assert store.history() == before and store.versions() == [1]  # nothing published


def test_round_without_pairs_is_skipped(smol_dir: Path, groups: list[CandidateGroup], tmp_path: Path) -> None:
    from trainer.preferences_config import PreferencesConfig
    from trainer.store import ModelStore

    store = ModelStore(tmp_path / "store")
    config = RoundConfig(preferences=PreferencesConfig(reward_margin=5.0))  # no candidate wins by 5
    r = run_round(
        groups[:2],
        [],
        base_model_dir=smol_dir,
        store=store,
        work_dir=tmp_path,
        evaluate=lambda ref: 0.0,
        config=config,
    )
    assert r.status == "skipped" and r.reason.startswith("too_few_pairs") and r.train is None
    assert store.current() is None
