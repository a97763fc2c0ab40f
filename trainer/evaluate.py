"""Built-in evaluators: `evaluate(WeightsRef) -> float`, higher is better (the gate's input).

- `RewardBench`: greedy completions of held-out prompts, scored with the rule reward; the score is the mean
  r_total (0 .. 2.0). This is what synthesis optimises, measured on prompts the round did not train on.
- `MarginBench`: on held-out preference pairs, the mean over pairs of (mean completion-token log-prob of
  chosen − that of rejected). Forward passes only; it measures whether the weights prefer what the
  rewards / feedback prefer.

The quality benchmark (`run_quality_bench`) plugs in the same way: any callable WeightsRef → float.
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
from trainer.lm import completion_loss, encode, generate, load_weights
from trainer.preferences import GrpoPrompt, PreferencePair
from trainer.weights import WeightsRef

log = logging.getLogger(__name__)


class Evaluator(ABC):
    """Loads the weights (plumbing) and scores them (the subclass's decision)."""

    def __init__(self, config: EvaluateConfig | None = None) -> None:
        self.config = config or EvaluateConfig()

    def __call__(self, ref: WeightsRef) -> float:
        import torch

        started = time.perf_counter()
        model, tokenizer = load_weights(ref, self.config.dtype)
        with torch.no_grad():
            score = self.score(model, tokenizer)
        log.info("%s of %s: %.4f in %.1fs", type(self).__name__, ref.label, score, time.perf_counter() - started)
        return score

    @abstractmethod
    def score(self, model: object, tokenizer: object) -> float:
        """The score of loaded weights (higher is better)."""


class RewardBench(Evaluator):
    def __init__(self, prompts: Sequence[GrpoPrompt], config: EvaluateConfig | None = None,
                 rewards: RewardsConfig | None = None) -> None:
        super().__init__(config)
        self.prompts = prompts
        self.rewards = rewards

    def score(self, model: object, tokenizer: object) -> float:
        used = list(self.prompts)[: self.config.max_prompts]
        if not used:
            raise ValueError("RewardBench has no prompts")
        totals = []
        for p in used:
            text = generate(model, tokenizer, p.prompt, self.config.max_new_tokens)
            totals.append(reward_terms(p.family, p.ctx, text, None, self.rewards)["r_total"])
        return float(sum(totals) / len(totals))


class MarginBench(Evaluator):
    def __init__(self, pairs: Sequence[PreferencePair], config: EvaluateConfig | None = None) -> None:
        super().__init__(config)
        self.pairs = pairs

    def score(self, model: object, tokenizer: object) -> float:
        used = list(self.pairs)[: self.config.max_prompts]
        if not used:
            raise ValueError("MarginBench has no pairs")
        margins = []
        for p in used:
            chosen = completion_loss(model, *encode(tokenizer, p.prompt, p.chosen, self.config.max_length))
            rejected = completion_loss(model, *encode(tokenizer, p.prompt, p.rejected, self.config.max_length))
            margins.append(float(rejected) - float(chosen))  # -loss is the mean token log-prob
        value = sum(margins) / len(margins)
        return value if math.isfinite(value) else float("-inf")
