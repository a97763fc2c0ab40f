"""GRPO rollouts under the synthesis step's per-window constrained decoding, in transformers.

Sampled freely, the base model almost never closes a valid JSON object inside the completion budget, so
every rule reward of a group is equal (0 or the invalid floor) and every GRPO advantage is 0: nothing is
learnt. The workers sample through vLLM with the window's schema as a regular expression of its compact
JSON (`agents.tasks.constrained.to_regex`); this module applies the same expression while TRL's
`GRPOTrainer` samples, through llguidance (the structured-output engine vLLM's CPU build uses) as a
transformers logits processor, so training rollouts come from the distribution the workers sample.

`ConstrainedRollout` is a TRL `rollout_func`: it receives the prompts of a step (each repeated
`num_generations` times by TRL's sampler), tokenises them as TRL does, generates one completion per prompt
with the trainer's generation config and the constraint of that prompt's window, and returns the ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agents.tasks.constrained import to_regex
from trainer.preferences import GrpoPrompt

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def prompt_key(messages: Sequence[Any]) -> str:
    """A prompt's identity as TRL hands it back to the rollout function (its messages, as JSON)."""
    return json.dumps([{"role": m["role"], "content": m["content"]} for m in messages], sort_keys=True)


class RegexConstraint:
    """A transformers logits processor: row i of the batch may only continue along `regexes[i]`.

    Rows are left-padded prompts of equal padded length `prompt_len`; at each step the token generated last
    is fed to the row's matcher, then every token the expression does not allow next gets -inf. A row whose
    matcher has stopped (the expression is complete) may only end (EOS)."""

    def __init__(self, ll_tokenizer: Any, regexes: Sequence[str], prompt_len: int) -> None:
        import llguidance
        import llguidance.torch as llt

        self.matchers = [
            llguidance.LLMatcher(ll_tokenizer, llguidance.LLMatcher.grammar_from_regex(r), log_level=0)
            for r in regexes
        ]
        for i, m in enumerate(self.matchers):
            if m.is_error():
                raise ValueError(f"constraint of row {i} does not compile: {m.get_error()}")
        self.bitmask = llt.allocate_token_bitmask(len(regexes), ll_tokenizer.vocab_size)
        self.prompt_len = prompt_len
        self.broken = [False] * len(regexes)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import llguidance.torch as llt

        if input_ids.shape[1] > self.prompt_len:
            for i, m in enumerate(self.matchers):
                if not m.is_stopped() and not self.broken[i] and not m.consume_token(int(input_ids[i, -1])):
                    self.broken[i] = True  # cannot happen with the mask applied; kept visible, never raised
                    log.warning("constrained rollout: row %d left its expression: %s", i, m.get_error())
        for i, m in enumerate(self.matchers):
            llt.fill_next_token_bitmask(m, self.bitmask, i)
        # ids past the tokenizer's vocabulary (a wider model head) are never allowed
        llt.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device))
        return scores


class ConstrainedRollout:
    """TRL `rollout_func` for `GRPOTrainer`: completions under each prompt's window constraint."""

    def __init__(self, prompts: Sequence[GrpoPrompt]) -> None:
        self.regex: dict[str, str] = {}
        for p in prompts:
            self.regex.setdefault(prompt_key(p.prompt), to_regex(p.family.decoding_schema(p.ctx)))
        self._ll_tokenizer: Any = None

    def ll_tokenizer(self, tokenizer: Any) -> Any:
        if self._ll_tokenizer is None:
            import llguidance.hf

            self._ll_tokenizer = llguidance.hf.from_tokenizer(tokenizer)
        return self._ll_tokenizer

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        import torch
        from transformers import LogitsProcessorList

        regexes = []
        for p in prompts:
            key = prompt_key(p)
            if key not in self.regex:
                raise KeyError("a rollout prompt that is not in the round's prompt table")
            regexes.append(self.regex[key])
        prompt_ids, _, _ = trainer._tokenize_prompts(
            prompts
        )  # the trainer's own templating (same as unconstrained)
        tok = trainer.processing_class
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        width = max(len(ids) for ids in prompt_ids)
        input_ids = torch.tensor([[pad_id] * (width - len(ids)) + list(ids) for ids in prompt_ids])
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompt_ids])
        constraint = RegexConstraint(self.ll_tokenizer(tok), regexes, width)
        model = trainer.accelerator.unwrap_model(trainer.model)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model.generate(
                    input_ids=input_ids.to(model.device),
                    attention_mask=attention.to(model.device),
                    generation_config=trainer.generation_config,
                    logits_processor=LogitsProcessorList([constraint]),
                )
        finally:
            model.train(was_training)
        eos = set(trainer.eos_token_ids) if hasattr(trainer, "eos_token_ids") else {tok.eos_token_id}
        completions = []
        for row in out[:, width:].tolist():
            cut = next((i for i, t in enumerate(row) if t in eos), None)
            completions.append(row if cut is None else row[: cut + 1])  # the EOS stays, as TRL keeps it
        return {
            "prompt_ids": [list(ids) for ids in prompt_ids],
            "completion_ids": completions,
            "logprobs": None,
        }
