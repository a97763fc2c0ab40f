"""Built-in evaluators: `evaluate(WeightsRef) -> float`, or with `per_item=True` one score per prompt or
pair (`{key: score}`, what the gate pairs case by case); higher is better (the gate's input).

- `RewardBench`: greedy completions of held-out prompts, scored with the rule reward; the score is the mean
  r_total (0 .. 2.0). This is what synthesis optimises, measured on prompts the round did not train on.
- `MarginBench`: on held-out preference pairs, the mean over pairs of (mean completion-token log-prob of
  chosen − that of rejected). Forward passes only; it measures whether the weights prefer what the
  rewards / feedback prefer.

The quality benchmark (`run_quality_bench`) plugs in the same way: any callable WeightsRef → float or
{case_id: score}.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence

from agents.rewards import reward_terms
from agents.rewards_config import RewardsConfig
from trainer.evaluate_config import EvaluateConfig
from trainer.gate import Scores
from trainer.lm import completion_loss, encode, generate, load_weights
from trainer.preferences import GrpoPrompt, PreferencePair
from trainer.weights import WeightsRef

log = logging.getLogger(__name__)


class Evaluator(ABC):
    """Loads the weights (plumbing) and scores them (the subclass's decision)."""

    def __init__(self, config: EvaluateConfig | None = None, per_item: bool = False) -> None:
        self.config = config or EvaluateConfig()
        self.per_item = per_item

    def __call__(self, ref: WeightsRef) -> Scores:
        import torch

        started = time.perf_counter()
        model, tokenizer = load_weights(ref, self.config.dtype)
        with torch.no_grad():
            items = self.item_scores(model, tokenizer)
        value = sum(items.values()) / len(items)
        log.info(
            "%s of %s: %.4f over %d items in %.1fs",
            type(self).__name__,
            ref.label,
            value,
            len(items),
            time.perf_counter() - started,
        )
        return items if self.per_item else value

    def score(self, model: object, tokenizer: object) -> float:
        """The score of loaded weights (higher is better): the mean of the item scores."""
        items = self.item_scores(model, tokenizer)
        return sum(items.values()) / len(items)

    @abstractmethod
    def item_scores(self, model: object, tokenizer: object) -> dict[str, float]:
        """One score per prompt or pair (higher is better), by a stable key."""


class RewardBench(Evaluator):
    def __init__(
        self,
        prompts: Sequence[GrpoPrompt],
        config: EvaluateConfig | None = None,
        rewards: RewardsConfig | None = None,
        per_item: bool = False,
    ) -> None:
        super().__init__(config, per_item)
        self.prompts = prompts
        self.rewards = rewards

    def item_scores(self, model: object, tokenizer: object) -> dict[str, float]:
        used = list(self.prompts)[: self.config.max_prompts]
        if not used:
            raise ValueError("RewardBench has no prompts")
        out: dict[str, float] = {}
        for p in used:
            text = generate(model, tokenizer, p.prompt, self.config.max_new_tokens)
            out[p.row_id] = float(reward_terms(p.family, p.ctx, text, None, self.rewards)["r_total"])
        return out


class MarginBench(Evaluator):
    def __init__(
        self, pairs: Sequence[PreferencePair], config: EvaluateConfig | None = None, per_item: bool = False
    ) -> None:
        super().__init__(config, per_item)
        self.pairs = pairs

    @staticmethod
    def key(pair: PreferencePair) -> str:
        return f"{pair.group_id}|{pair.chosen_id}>{pair.rejected_id}"

    def item_scores(self, model: object, tokenizer: object) -> dict[str, float]:
        used = list(self.pairs)[: self.config.max_prompts]
        if not used:
            raise ValueError("MarginBench has no pairs")
        margins: dict[str, float] = {}
        for p in used:
            chosen = completion_loss(model, *encode(tokenizer, p.prompt, p.chosen, self.config.max_length))
            rejected = completion_loss(
                model, *encode(tokenizer, p.prompt, p.rejected, self.config.max_length)
            )
            margin = float(rejected) - float(chosen)  # -loss is the mean token log-prob
            margins[self.key(p)] = margin if math.isfinite(margin) else float("-inf")
        return margins
