"""Small language-model helpers shared by the evaluators and the probe: load weights (safetensors only,
verified), tokenise prompt + completion with the loss on the completion only, score a completion."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.weights import WeightsRef

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

Message = dict[str, Any]
IGNORE = -100


def load_weights(ref: WeightsRef, dtype: str = "float32") -> tuple[Any, Any]:
    """Model and tokenizer of `ref` (base, plus the LoRA adapter merged in when there is one), in eval mode."""
    from agents.model_cache import load_model
    from trainer.train_base import check_adapter_dir

    model, tokenizer = load_model(Path(ref.base_model_dir), dtype=dtype)
    if ref.adapter_dir is not None:
        from peft import PeftModel

        check_adapter_dir(Path(ref.adapter_dir))
        model = PeftModel.from_pretrained(model, str(ref.adapter_dir)).merge_and_unload()
    model.eval()
    return model, tokenizer


def encode(
    tokenizer: Any, prompt: list[Message], completion: str, max_length: int
) -> tuple[list[int], list[int]]:
    """Token ids of the chat prompt + assistant completion, and labels that score only the completion.

    When too long, the prompt loses tokens from its start (the completion and the end of the prompt stay).
    """
    prompt_text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    prompt_ids = list(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
    completion_ids = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
    eos = tokenizer.eos_token_id
    if isinstance(eos, int):
        completion_ids.append(eos)
    completion_ids = completion_ids[: max_length - 1]
    prompt_ids = prompt_ids[max(0, len(prompt_ids) - (max_length - len(completion_ids))) :]
    return prompt_ids + completion_ids, [IGNORE] * len(prompt_ids) + completion_ids


def completion_loss(model: Any, ids: list[int], labels: list[int]) -> torch.Tensor:
    """Mean token cross-entropy of the completion tokens (a scalar tensor with grad where params need it)."""
    import torch

    input_ids = torch.tensor([ids])
    target = torch.tensor([labels])
    logits = model(input_ids=input_ids).logits[:, :-1, :].float()
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target[:, 1:].reshape(-1), ignore_index=IGNORE
    )


def generate(model: Any, tokenizer: Any, prompt: list[Message], max_new_tokens: int) -> str:
    """Greedy completion of a chat prompt."""
    import torch

    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(
            **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id
        )
    return str(tokenizer.decode(out[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True))
