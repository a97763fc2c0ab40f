"""GRPO with the rule rewards as the reward function (TRL `GRPOTrainer`, LoRA by default).

The dataset rows carry only the prompt messages and a `row_id`; the reward function looks the row up in a
side table (`row_id` → family and `SynthesisContext`, i.e. the window's anchors) and scores the completions
with `agents.rewards.group_rewards`. The completions of one prompt in a call form one group, so R_eff is
relative to that group, as in synthesis. The reward is r_total = 0.7·R_format + 1.0·R_anchor + 0.3·R_eff.
Completions are sampled under each window's constraint, as the workers sample them
(`trainer.constrained_rollout`; `TrainConfig.constrained_rollouts`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.rewards import group_rewards
from agents.rewards_config import RewardsConfig
from trainer.constrained_rollout import ConstrainedRollout
from trainer.preferences import GrpoPrompt
from trainer.train_base import TrainError, TrainResult, TrainRun
from trainer.train_config import TrainConfig

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

log = logging.getLogger(__name__)


def completion_text(completion: Any) -> str:
    """The text of one TRL completion: a string, or a list of messages (conversational prompts)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content") or "") for m in completion if isinstance(m, dict))
    raise TypeError(f"unexpected completion of type {type(completion).__name__}")


class RuleReward:
    """A TRL reward function: completions → r_total, with the family and context of each row's `row_id`.

    `history` (if given) receives one dict of mean terms per call, for reports and tests.
    """

    __name__ = "rule_reward"

    def __init__(
        self,
        table: Mapping[str, GrpoPrompt],
        rewards: RewardsConfig | None = None,
        history: list[dict[str, float]] | None = None,
    ) -> None:
        self.table = table
        self.rewards = rewards
        self.history = history

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], row_id: Sequence[str], **_: Any
    ) -> list[float]:
        if len(row_id) != len(completions):
            raise ValueError(f"{len(completions)} completions for {len(row_id)} row ids")
        texts = [completion_text(c) for c in completions]
        out = [0.0] * len(texts)
        terms_all: list[dict[str, float]] = [{} for _ in texts]
        for rid in dict.fromkeys(row_id):
            row = self.table.get(rid)
            if row is None:
                raise KeyError(f"row {rid!r} is not in the reward table")
            idx = [i for i, r in enumerate(row_id) if r == rid]
            for i, terms in zip(
                idx, group_rewards(row.family, row.ctx, [texts[i] for i in idx], self.rewards)
            ):
                out[i] = terms["r_total"] if math.isfinite(terms["r_total"]) else 0.0
                terms_all[i] = terms
        if self.history is not None:
            keys = ("r_format", "r_anchor", "r_eff", "r_total", "valid")
            self.history.append({k: sum(t.get(k, 0.0) for t in terms_all) / len(texts) for k in keys})
        return out


def rule_reward(
    prompts: Sequence[GrpoPrompt],
    rewards: RewardsConfig | None = None,
    history: list[dict[str, float]] | None = None,
) -> RuleReward:
    return RuleReward({p.row_id: p for p in prompts}, rewards, history)


class GrpoRun(TrainRun):
    method = "grpo"
    tracked = ("reward", "reward_std", "completions/mean_length")

    def __init__(self, config: TrainConfig | None, reward_fn: Any, rollout_func: Any = None) -> None:
        super().__init__(config)
        self.reward_fn = reward_fn
        self.rollout_func = rollout_func

    def trl_config_class(self) -> type[Any]:
        from trl import GRPOConfig

        return GRPOConfig

    def make_trainer(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        args: Any,
        dataset: Dataset,
        peft_config: Any,
        base_model_dir: Path,
    ) -> Trainer:
        from trl import GRPOTrainer

        if tokenizer.padding_side != "left":
            tokenizer.padding_side = "left"  # generation batches are left-padded
        return GRPOTrainer(
            model=model,
            reward_funcs=[self.reward_fn],
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
            rollout_func=self.rollout_func,
        )


def prompts_dataset(prompts: Sequence[GrpoPrompt]) -> Dataset:
    from datasets import Dataset

    return Dataset.from_list([{"prompt": p.prompt, "row_id": p.row_id} for p in prompts])


def run_grpo(
    base_model_dir: Path,
    prompts: Sequence[GrpoPrompt],
    reward_fn: Any,
    config: TrainConfig | None,
    out_dir: Path,
    init_adapter: Path | None = None,
) -> TrainResult:
    """Train GRPO on `prompts` with `reward_fn` (e.g. `rule_reward(prompts)`); weights to `out_dir/adapter`."""
    cfg = config or TrainConfig()
    if not prompts:
        raise TrainError("no_data", "GRPO needs at least one prompt")
    used = list(prompts)[: cfg.max_items]
    trained_on = list(dict.fromkeys(i for p in used for i in p.candidate_ids))
    rollout = ConstrainedRollout(used) if cfg.constrained_rollouts else None
    return GrpoRun(cfg, reward_fn, rollout).run(
        Path(base_model_dir), prompts_dataset(used), trained_on, Path(out_dir), init_adapter
    )
