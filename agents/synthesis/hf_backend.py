"""In-process transformers generation (sequential), for small local runs and as the speed baseline."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from typing import Any

from agents.synthesis.base import Generation, SynthesisBackend, SynthesisJob
from agents.synthesis.hf_backend_config import HfBackendConfig
from agents.tasks.constrained import token_budget

log = logging.getLogger(__name__)


class HfBackend(SynthesisBackend):
    name = "hf"

    def __init__(self, config: HfBackendConfig) -> None:
        super().__init__(concurrency=1)
        self.config = config
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()
        self._weights_version: str | None = None

    @property
    def weights_version(self) -> str | None:
        return self._weights_version

    def load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                import torch

                from agents.model_cache import load_model

                if self.config.threads:
                    torch.set_num_threads(self.config.threads)
                model, tokenizer = load_model(self.config.model_dir, dtype=self.config.dtype)
                if self.config.adapter_dir is not None:
                    from peft import PeftModel

                    model = PeftModel.from_pretrained(model, str(self.config.adapter_dir))  # type: ignore[assignment]
                model.eval()
                self._loaded = (model, tokenizer)
            return self._loaded

    def reload(self, adapter_dir: Any, weights_version: str | None) -> None:
        """Take up new weights: the next generation loads them (the caller verified their hash)."""
        with self._lock:
            self.config = self.config.model_copy(update={"adapter_dir": adapter_dir})
            self._loaded = None
            self._weights_version = weights_version

    def _generate(self, job: SynthesisJob) -> Generation:
        import torch

        model, tokenizer = self.load()
        messages = job.family.chat_messages(job.ctx)
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = tokenizer(text, return_tensors="pt")
        cfg = self.config
        # No grammar here, but the same completion budget as the constrained server asks for.
        budget = token_budget(
            job.family.decoding_schema(job.ctx), floor=min(48, cfg.max_new_tokens), cap=cfg.max_new_tokens
        )
        texts, tokens = [], 0
        for _ in range(job.n):
            with torch.no_grad():
                out = model.generate(
                    **inputs,
                    max_new_tokens=budget,
                    do_sample=cfg.temperature > 0,
                    temperature=cfg.temperature if cfg.temperature > 0 else None,
                    top_p=cfg.top_p if cfg.temperature > 0 else None,
                    pad_token_id=tokenizer.eos_token_id,
                )
            new = out[0][inputs["input_ids"].shape[1] :]
            tokens += int(new.shape[0])
            texts.append(tokenizer.decode(new, skip_special_tokens=True))
        digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
        return Generation(
            texts=texts,
            model=f"hf:{cfg.model_dir.name}",
            weights_version=self._weights_version,
            prompt_sha256=digest,
            completion_tokens=tokens,
        )

    async def generate(self, job: SynthesisJob) -> Generation:
        return await asyncio.to_thread(self._generate, job)
