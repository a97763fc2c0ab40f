"""`tailor bench learn`: the learning curve. From the base model, through the supervised warm start and N
GRPO rounds on the bundled real data, every point is scored the same way:

- on the heldout split (recordings nothing here trains on): S_total, S_accepted, validator pass rate and
  grounding precision, overall and by family;
- on the dev split (the windows the rounds train on): the model's own data, i.e. what the stream would get
  from it: the share of its outputs the validators accept (the stream's acceptance rate, measured on dev
  windows rather than a live stream), their mean reward (R_total), and the downstream student probe
  (`trainer.student_probe`): a fresh student trained on the accepted outputs, scored on heldout references
  (held-out loss drop, nats per token). Nothing trains on the probe's figure here, so scoring it on the
  heldout references does not leak.

The rules backend is scored once (its heldout figures and its data's probe) and drawn beside the base model.
Writes learn.json and learn.png into `out`; adapters go to out/adapters.

    from bench.learn import run_learn
    from bench.learn_config import LearnBenchConfig
    curve = run_learn(LearnBenchConfig.make(quick=True, out=Path("learn-out")))
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.tasks.base import SynthesisContext, TaskSpec, registry
from bench.case import BenchCase
from bench.learn_config import LearnBenchConfig
from bench.scoring import context
from bench.store import load_cases
from trainer.heldout import HeldoutRecordings

if TYPE_CHECKING:
    from trainer.sft import SftSource

log = logging.getLogger(__name__)

FAMILY_KEYS = ("cases", "s_total", "s_accepted", "pass_rate")


def trainable_cases(limit: int | None) -> list[BenchCase]:
    """Dev cases whose window and distractors come from no heldout recording (the prompts trained on)."""
    held = HeldoutRecordings.load()
    cases = [
        c
        for c in load_cases(split="dev")
        if not held.holds(c.anchors) and not any(held.holds(d) for d in c.distractors)
    ]
    return cases[:limit] if limit is not None else cases


class Curve:
    """The points of one run, and the steps that make them."""

    def __init__(self, config: LearnBenchConfig, url: str | None) -> None:
        self.config = config
        self.url = url
        self.families = registry()
        self.dev = trainable_cases(config.dev_limit)
        heldout = load_cases(split="heldout")
        self.heldout = heldout[: config.eval_limit] if config.eval_limit is not None else heldout
        self.points: list[dict[str, Any]] = []
        self.adapters = config.out / "adapters"

    def quality(self, backend: str, split: str, weights: Path | None) -> dict[str, Any]:
        from bench.quality import run_quality_bench
        from bench.quality_config import QualityBenchConfig

        cfg = self.config
        cases = self.dev if split == "dev" else self.heldout
        qcfg = QualityBenchConfig(
            model_dir=cfg.model_dir,
            weights=weights,
            vllm_url=self.url,
            vllm_venv=cfg.vllm_venv,
            vllm_model=cfg.served_name,
            max_new_tokens=cfg.max_new_tokens,
            case_ids=[c.case_id for c in cases],
            seed=cfg.seed,
            keep_outputs=100_000,
        )
        return run_quality_bench(backend, split, config=qcfg)

    def point(
        self,
        name: str,
        backend: str,
        weights: Path | None,
        train: dict[str, Any] | None = None,
        started: float | None = None,
        heldout_only: bool = False,
        record: bool = True,
    ) -> dict[str, Any]:
        """Score one state of the model (or the rules backend) and record it (`record`) as a curve point;
        `heldout_only` skips the dev run and the probe (the point's own data)."""
        t0 = time.perf_counter()
        held = self.quality(backend, "heldout", weights)
        data = (
            self.data_figures(self.quality(backend, "dev", weights))
            if not heldout_only
            else dict.fromkeys(("acceptance", "mean_reward", "probe_loss_drop"))
        )
        point = {
            "name": name,
            "backend": backend,
            "weights": str(weights) if weights else None,
            "heldout": {
                k: held.get(k)
                for k in ("cases", "s_total", "s_accepted", "pass_rate", "g_json", "grounding_precision")
            },
            "heldout_by_family": {
                f: {k: v.get(k) for k in FAMILY_KEYS} for f, v in held["by_family"].items()
            },
            "heldout_per_case": {r["case_id"]: r["s_accepted"] for r in held["per_case"]},
            "data": data,
            "train": train or {},
            "score_seconds": round(time.perf_counter() - t0, 1),
            "wall_seconds": round(time.perf_counter() - (started or t0), 1),
        }
        if record:
            self.points.append(point)
        log.info(
            "learn: %s heldout S_accepted %s, pass %s; dev acceptance %s, mean reward %s, probe %s (%.0fs)",
            name,
            held.get("s_accepted"),
            held.get("pass_rate"),
            data["acceptance"],
            data["mean_reward"],
            data["probe_loss_drop"],
            point["wall_seconds"],
        )
        return point

    def data_figures(self, dev: dict[str, Any]) -> dict[str, Any]:
        """What the stream would get from this model on the dev windows: acceptance, mean reward, probe."""
        from agents.rewards import group_rewards

        by_id = {c.case_id: c for c in self.dev}
        rewards, accepted = [], []
        for row in dev["per_case"]:
            case = by_id[row["case_id"]]
            family = self.families[case.family]
            text = row.get("output") or ""
            (terms,) = group_rewards(family, context(case), [text])
            rewards.append(terms["r_total"])
            if row["passed"]:
                accepted.append((case, text))
        figures: dict[str, Any] = {
            "cases": len(rewards),
            "accepted": len(accepted),
            "acceptance": round(len(accepted) / len(rewards), 4) if rewards else None,
            "mean_reward": round(sum(rewards) / len(rewards), 4) if rewards else None,
            "probe_loss_drop": None,
            "probe_accuracy_gain": None,
        }
        if self.config.probe and accepted:
            figures.update(self.probe(accepted))
        return figures

    def probe(self, accepted: list[tuple[BenchCase, str]]) -> dict[str, Any]:
        """A fresh student trained on the accepted outputs (one batch), scored on heldout references."""
        from trainer.student_probe import StudentItem, StudentProbe
        from trainer.student_probe_config import StudentProbeConfig

        def item(case: BenchCase, text: str, ex_id: str) -> StudentItem:
            return StudentItem(
                ex_id,
                self.families[case.family].chat_messages(context(case)),
                text,
                f"{case.anchors.domain}:{case.anchors.key}",
            )

        batch = [item(c, t, c.case_id) for c, t in accepted]
        refs = [
            item(c, json.dumps(c.reference), f"ref:{c.case_id}")
            for c in self.heldout
            if c.family in {b.family for b, _ in accepted}
        ][: self.config.probe_heldout]
        if not refs:
            return {}
        batch = batch[: self.config.probe_batch]
        cfg = StudentProbeConfig(
            batch_size=len(batch), max_heldout=self.config.probe_heldout, seed=self.config.seed
        )
        m = StudentProbe(self.config.model_dir, cfg).measure_batch(batch, refs)
        return {
            "probe_loss_drop": round(m.loss_drop, 4),
            "probe_batch": len(batch),
            "probe_accuracy_gain": round(m.accuracy_after - m.accuracy_before, 4),
            "probe_heldout_items": m.heldout_items,
        }

    def warm_start(self) -> tuple[Path, dict[str, Any]]:
        from trainer.sft import SftSource, build_sft_data, run_sft
        from trainer.train_config import TrainConfig

        sources = [
            SftSource(
                f"case:{c.case_id}", self.families[c.family], context(c), json.dumps(c.reference), "reference"
            )
            for c in self.dev
        ]
        if self.config.sft_rules:
            sources += self.teacher_sources()
        data = build_sft_data(sources, HeldoutRecordings.load())
        cfg = TrainConfig(trl_overrides={"max_steps": self.config.sft_steps, "seed": self.config.seed})
        result = run_sft(self.config.model_dir, data.rows, cfg, self.adapters / "sft")
        return result.adapter_dir, {
            "method": "sft",
            "rows": len(data.rows),
            "by_origin": dict(data.by_origin),
            "steps": result.steps,
            "metrics": _plain(result.metrics),
        }

    def teacher_sources(self) -> list[SftSource]:
        """The rules backend's outputs as warm-start rows: for each dev case's own family, or (with
        `sft_all_families`) for every family that applies to each dev window, as the stream's rules backend
        answers every intent of a window's domain (gui_task_reconstruction, for one, has no trainable dev case).
        Such a family's prompt carries an intent text of that family and domain from the dev case set (intent
        texts are generic requests, not data)."""
        from trainer.sft import SftSource

        if not self.config.sft_all_families:
            out = []
            for c in self.dev:
                family, ctx = self.families[c.family], context(c)
                rule = family.rule_output(ctx)
                if rule is not None:
                    out.append(SftSource(f"rules:{c.case_id}", family, ctx, rule.model_dump_json(), "rules"))
            return out
        texts: dict[tuple[str, str], str] = {}
        for c in load_cases(split="dev"):
            texts.setdefault((c.family, c.domain), c.intent)
            texts.setdefault((c.family, ""), c.intent)
        windows = {c.anchors.window_id: c for c in self.dev}
        out = []
        for case in windows.values():
            for name, family in sorted(self.families.items()):
                if not family.applies(case.anchors):
                    continue
                text = texts.get((name, case.domain)) or texts.get((name, ""), "")
                distractors = tuple(case.distractors) if case.family == name else ()
                ctx = SynthesisContext(
                    case.anchors,
                    TaskSpec(name, intent_id=f"rules:{name}", domain=case.domain, text=text),
                    distractors,
                )
                rule = family.rule_output(ctx)
                if rule is not None:
                    out.append(
                        SftSource(
                            f"rules:{case.anchors.window_id}:{name}",
                            family,
                            ctx,
                            rule.model_dump_json(),
                            "rules",
                        )
                    )
        return out

    def grpo_round(self, index: int, adapter: Path | None) -> tuple[Path, dict[str, Any]]:
        from trainer.grpo import rule_reward, run_grpo
        from trainer.preferences import GrpoPrompt
        from trainer.train_config import TrainConfig

        cfg = self.config
        prompts = []
        for c in self.dev:
            family = self.families[c.family]
            row = hashlib.sha256(c.case_id.encode()).hexdigest()[:16]
            prompts.append(GrpoPrompt(row, c.case_id, family, context(c), family.chat_messages(context(c))))
        history: list[dict[str, float]] = []
        tcfg = TrainConfig(
            trl_overrides={
                "max_steps": cfg.round_steps,
                "learning_rate": cfg.round_learning_rate,
                "seed": cfg.seed + index,
                "num_generations": cfg.num_generations,
                "per_device_train_batch_size": cfg.num_generations,
                "max_completion_length": cfg.max_completion_length,
            }
        )
        result = run_grpo(
            cfg.model_dir,
            prompts,
            rule_reward(prompts, history=history),
            tcfg,
            self.adapters / f"round-{index}",
            init_adapter=adapter,
        )
        mean_reward = sum(h["r_total"] for h in history) / len(history) if history else None
        return result.adapter_dir, {
            "method": "grpo",
            "prompts": len(prompts),
            "steps": result.steps,
            "rollout_mean_reward": mean_reward,
            "rollout_valid": sum(h["valid"] for h in history) / len(history) if history else None,
        }


def _plain(metrics: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(metrics or {}).items() if isinstance(v, (int, float, str))}


@contextmanager
def scoring_server(config: LearnBenchConfig) -> Iterator[str | None]:
    """The vLLM server every point is scored on (adapters are loaded into it by name), or None for hf."""
    if config.backend != "vllm" or config.vllm_url:
        yield config.vllm_url
        return
    from agents.vllm_server import VllmServer
    from agents.vllm_server_config import VllmServerConfig, lora_rank_slot
    from trainer.train_config import LoraSettings

    with VllmServer(
        VllmServerConfig(
            venv=config.vllm_venv,
            model_dir=config.model_dir,
            served_model_name=config.served_name,
            start_timeout_s=300,
            max_lora_rank=lora_rank_slot(LoraSettings().rank),  # it serves only the adapters this run trains
        )
    ) as server:
        assert server.base_url is not None
        yield str(server.base_url)


def run_learn(config: LearnBenchConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the curve; write learn.json and learn.png into `config.out`; return the JSON's content."""
    say = progress or log.info
    config.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with scoring_server(config) as url:
        curve = Curve(config, url)
        say(
            f"learn: {len(curve.dev)} dev prompts, {len(curve.heldout)} heldout cases, backend {config.backend}"
        )
        say("learn: scoring the rules baseline")
        rules = curve.point("rules", "rules", None, started=started)
        curve.points.clear()  # the rules are a baseline, not a point of the curve
        say("learn: scoring the base model")
        curve.point("base", config.backend, None, started=started)
        say(f"learn: warm start ({config.sft_steps} SFT steps)")
        adapter, train = curve.warm_start()
        warm = curve.point("warm start", config.backend, adapter, train, started)
        ablation = None
        if config.ablation:
            from bench.learn_ablation import run_ablation

            say("learn: ablation (a DPO round with downstream feedback vs one with rule rewards only)")
            ablation = run_ablation(curve, adapter, warm)
        for i in range(1, config.rounds + 1):
            say(f"learn: GRPO round {i} of {config.rounds} ({config.round_steps} steps)")
            adapter, train = curve.grpo_round(i, adapter)
            curve.point(f"round {i}", config.backend, adapter, train, started)
    result = {
        "config": json.loads(config.model_dump_json()),
        "rules": rules,
        "points": curve.points,
        "final_vs_base": paired(curve.points[0], curve.points[-1]),
        "ablation": ablation,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (config.out / "learn.json").write_text(json.dumps(result, indent=2))
    from bench.plots import learn_png

    learn_png(config.out / "learn.png", result)
    return result


def paired(base: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """The last point against the base on the same heldout cases: mean S_accepted gain and its paired
    bootstrap 95 % interval (the gate's statistic)."""
    from trainer.gate import paired_bootstrap

    ids = sorted(set(base["heldout_per_case"]) & set(last["heldout_per_case"]))
    diffs = [last["heldout_per_case"][i] - base["heldout_per_case"][i] for i in ids]
    if not diffs:
        return {"cases": 0}
    low, high = paired_bootstrap(diffs)
    return {
        "cases": len(diffs),
        "mean_diff": round(sum(diffs) / len(diffs), 4),
        "ci_low": round(low, 4),
        "ci_high": round(high, 4),
    }
