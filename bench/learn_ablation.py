"""The ablation of `tailor bench learn`: a DPO round with downstream feedback against the same round with rule
rewards only.

Both arms start from the same warm-start adapter, see the same candidate groups (n samples per dev window from
that adapter, at the workers' sampling temperature), train with the same seed and the same steps, and are
scored on the same heldout cases. The one difference is the feedback:

- **feedback arm**: the downstream student probe (`trainer.student_probe`) measures batches of the accepted
  candidates against dev references of other recordings (never heldout: this arm learns from the figure) and
  publishes `batch_metric` feedback; the ledger turns it into each candidate's utility, and preference pairs
  are decided by utility where both candidates have one, by the rule reward otherwise (`trainer.preferences`);
- **rules arm**: no feedback; every pair is decided by the rule reward (R_total).

The probe's credit is per batch, so inside one group the utility says which candidate sat in the more useful
batch: it is what a downstream team's batch metric gives, and the ablation measures whether that helps.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.synthesis.base import SynthesisJob
from bench.case import BenchCase
from bench.scoring import context
from core.records import Feedback
from trainer.preferences import (
    CandidateGroup,
    PreferencePair,
    build_group,
    build_pairs,
    canonical,
    with_feedback,
)

if TYPE_CHECKING:
    from bench.learn import Curve

log = logging.getLogger(__name__)


def sample_groups(curve: Curve, adapter: Path | None) -> list[CandidateGroup]:
    """n candidates per dev case from `adapter`, sampled as the workers sample, rewarded as the stream rewards."""
    from bench.backends import bench_backend
    from bench.quality_config import QualityBenchConfig

    cfg = curve.config
    qcfg = QualityBenchConfig(
        model_dir=cfg.model_dir,
        weights=adapter,
        vllm_url=curve.url,
        vllm_venv=cfg.vllm_venv,
        vllm_model=cfg.served_name,
        max_new_tokens=cfg.max_new_tokens,
        seed=cfg.seed,
        temperature=cfg.ablation_temperature,
    )
    runner = bench_backend(cfg.backend, qcfg)
    version = runner.describe().get("weights_version")
    with ExitStack() as stack:
        backend = runner.open(stack)

        async def sample(case: BenchCase) -> list[str]:
            job = SynthesisJob(curve.families[case.family], context(case), n=cfg.ablation_candidates)
            try:
                return list((await backend.synthesize(job)).texts)
            except Exception as exc:
                log.warning("ablation: sampling %s failed: %s", case.case_id, exc)
                return []

        async def every() -> list[list[str]]:
            try:
                return list(await asyncio.gather(*(sample(c) for c in curve.dev)))
            finally:
                await backend.close()

        texts = asyncio.run(every())
    return [
        build_group(curve.families[c.family], context(c), t, weights_version=version, model="ablation")
        for c, t in zip(curve.dev, texts)
        if t
    ]


def accepted(groups: list[CandidateGroup]) -> list[tuple[CandidateGroup, Any]]:
    """(group, candidate) for every distinct candidate the validators accept (its reward terms say so)."""
    out, seen = [], set()
    for g in groups:
        for c in g.candidates:
            if c.candidate_id not in seen and c.rewards.get("valid"):
                seen.add(c.candidate_id)
                out.append((g, c))
    return out


def probe_batches(
    groups: list[CandidateGroup], batch_size: int, max_batches: int
) -> list[list[tuple[Any, Any]]]:
    """Batches of accepted candidates laid out so the batch credit can decide pairs: the groups with two
    distinct accepted candidates (at most as many as the budget covers) give their first accepted candidate to
    the first half of the batches and their second to the second half, offset by one batch, so inside a
    group the two always sit in different batches with different companions."""
    by_group: dict[str, list[tuple[CandidateGroup, Any]]] = {}
    for g, c in accepted(groups):
        texts = {canonical(x.text) for _, x in by_group.get(g.group_id, [])}
        if canonical(c.text) not in texts:
            by_group.setdefault(g.group_id, []).append((g, c))
    pairs = [found[:2] for found in by_group.values() if len(found) >= 2][: batch_size * max_batches // 2]
    if not pairs:
        return []
    half = -(-len(pairs) // batch_size)  # batches per slot
    first = [pairs[i][0] for i in range(len(pairs))]
    second = (
        [pairs[(i + batch_size) % len(pairs)][1] for i in range(len(pairs))]
        if half > 1
        else [p[1] for p in pairs]
    )
    cut = [first[i : i + batch_size] for i in range(0, len(first), batch_size)]
    cut += [second[i : i + batch_size] for i in range(0, len(second), batch_size)]
    return cut[:max_batches]


def probe_feedback(curve: Curve, groups: list[CandidateGroup]) -> list[Feedback]:
    """The student probe's batch metrics over accepted candidates (`probe_batches`), against dev references
    (the arm learns from this figure, so never the heldout ones)."""
    from trainer.probe import ProbeError
    from trainer.student_probe import StudentItem, StudentProbe
    from trainer.student_probe_config import StudentProbeConfig

    cfg = curve.config

    def recording(anchors: Any) -> str:
        return f"{anchors.domain}:{anchors.key}"

    batches = probe_batches(groups, cfg.ablation_probe_batch, cfg.ablation_probe_batches)
    probed = {recording(g.ctx.anchors) for batch in batches for g, _ in batch}
    # references of recordings no batch holds first: then every batch is scored on the same held set (a batch
    # never scores on its own recordings, so references of probed recordings would vary the set by batch)
    cases = sorted(curve.dev, key=lambda c: recording(c.anchors) in probed)
    refs = [
        StudentItem(
            f"ref:{c.case_id}",
            curve.families[c.family].chat_messages(context(c)),
            json.dumps(c.reference),
            recording(c.anchors),
        )
        for c in cases
    ]
    pcfg = StudentProbeConfig(
        batch_size=cfg.ablation_probe_batch,
        max_batches=cfg.ablation_probe_batches,
        max_heldout=cfg.probe_heldout,
        seed=cfg.seed,
    )
    probe = StudentProbe(cfg.model_dir, pcfg)
    found = []
    for batch in batches:
        items = [StudentItem(c.candidate_id, g.prompt(), c.text, recording(g.ctx.anchors)) for g, c in batch]
        try:
            found.append(probe.measure_batch(items, refs).feedback(pcfg, 0.0))
        except ProbeError as exc:
            log.info("ablation: a probe batch skipped: %s", exc)
    return found


def arm_pairs(groups: list[CandidateGroup], feedback: list[Feedback]) -> list[PreferencePair]:
    """The DPO pairs of an arm: with `feedback` (utilities from the ledger) or without it (rule rewards)."""
    from trainer.feedback import FeedbackLedger

    ledger = FeedbackLedger()
    ledger.add_all(feedback)
    return build_pairs([with_feedback(g, ledger) for g in groups]).pairs


def pair_summary(pairs: list[PreferencePair]) -> dict[str, Any]:
    return {"pairs": len(pairs), "by_basis": dict(Counter(p.basis for p in pairs))}


def run_ablation(curve: Curve, adapter: Path | None, warm: dict[str, Any]) -> dict[str, Any]:
    """Both arms from `adapter` (the warm start, scored as `warm`): their pairs, training and heldout figures,
    and the paired comparisons (feedback vs rules, each vs the warm start)."""
    groups = sample_groups(curve, adapter)
    return run_arms(curve, adapter, warm, groups, probe_feedback(curve, groups))


def run_arms(
    curve: Curve,
    adapter: Path | None,
    warm: dict[str, Any],
    groups: list[CandidateGroup],
    feedback: list[Feedback],
) -> dict[str, Any]:
    """The two arms on `groups`: pairs with and without `feedback`, one DPO round each from `adapter` (same
    seed, same steps), each scored on the heldout cases."""
    from bench.learn import paired
    from trainer.dpo import run_dpo
    from trainer.train_config import TrainConfig

    cfg = curve.config
    arms = {"feedback": arm_pairs(groups, feedback), "rules": arm_pairs(groups, [])}
    rules_keys = {(p.chosen_id, p.rejected_id) for p in arms["rules"]}
    result: dict[str, Any] = {
        "groups": len(groups),
        "candidates": sum(len(g.candidates) for g in groups),
        "accepted": len(accepted(groups)),
        "probe_batches": len(feedback),
        "probed": sum(len(f.example_ids or []) for f in feedback),
        "probe_values": [round(f.value or 0.0, 4) for f in feedback],
        "pairs_not_in_rules_arm": sum(
            (p.chosen_id, p.rejected_id) not in rules_keys for p in arms["feedback"]
        ),
        "arms": {},
    }
    for name, pairs in arms.items():
        entry: dict[str, Any] = pair_summary(pairs)
        if pairs:
            tcfg = TrainConfig(trl_overrides={"max_steps": cfg.ablation_steps, "seed": cfg.seed})
            trained = run_dpo(cfg.model_dir, pairs, tcfg, curve.adapters / f"ablation-{name}", adapter)
            point = curve.point(
                f"ablation: {name}",
                cfg.backend,
                trained.adapter_dir,
                {
                    "method": "dpo",
                    "steps": trained.steps,
                    "loss_start": trained.loss_start,
                    "loss_end": trained.loss_end,
                },
                heldout_only=True,
                record=False,
            )
            entry.update(point=point, vs_warm_start=paired(warm, point))
        result["arms"][name] = entry
    both = [result["arms"][n].get("point") for n in ("feedback", "rules")]
    if all(both):
        result["feedback_vs_rules"] = paired(both[1], both[0])
    return result


def ablation_lines(ablation: dict[str, Any] | None) -> list[str]:
    """The ablation's arms: pairs, heldout S_accepted, gain over the warm start; then feedback vs rules."""
    if not ablation:
        return []
    head = (
        f"ablation: {ablation['groups']} groups, {ablation['accepted']} accepted candidates, probe "
        f"{ablation['probe_batches']} batches ({ablation['probed']} candidates); "
        f"{ablation['pairs_not_in_rules_arm']} feedback-arm pairs differ from the rules arm's"
    )
    out = [head]
    for name, arm in ablation["arms"].items():
        point = arm.get("point")
        if point is None:
            out.append(f"  {name} arm: {arm['pairs']} pairs, not trained")
            continue
        gain = arm["vs_warm_start"]
        out.append(
            f"  {name} arm: {arm['pairs']} pairs {arm['by_basis']}, heldout S_accepted "
            f"{point['heldout']['s_accepted']:.3f}, vs warm start {_gain(gain)}"
        )
    if ablation.get("feedback_vs_rules"):
        out.append(f"  feedback arm vs rules arm: {_gain(ablation['feedback_vs_rules'])}")
    return out


def _gain(g: dict[str, Any]) -> str:
    if not g.get("cases"):
        return "no common cases"
    return f"{g['mean_diff']:+.3f} (95% CI {g['ci_low']:+.3f}..{g['ci_high']:+.3f}, {g['cases']} cases)"
