"""In-process transformers generation (sequential), for small local runs and as the speed baseline."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import threading
from typing import Any

from agents.model_caps import takes_images
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
        # a vision-language folder is loaded with its processor and shown the jobs' key frames
        self.vision = takes_images(config.model_dir)

    async def takes_images(self) -> bool:
        return self.vision

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
                if self.vision:
                    from agents.vision_model import load_vision_model

                    model, tokenizer = load_vision_model(self.config.model_dir, dtype=self.config.dtype)
                else:
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

        model, tokenizer = self.load()  # a processor for a vision model (it tokenises too)
        messages = job.family.chat_messages(job.ctx)
        shown = sorted(job.images, key=lambda i: i.frame_index) if self.vision else []
        if shown:
            from PIL import Image

            from agents.vision_model import hf_image_messages

            messages = hf_image_messages(messages, [i.frame_index for i in shown])
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            pixels = [Image.open(io.BytesIO(i.data)).convert("RGB") for i in shown]
            inputs = tokenizer(text=text, images=pixels, return_tensors="pt")
        else:
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            inputs = tokenizer(text=text, return_tensors="pt")
        decoder = getattr(tokenizer, "tokenizer", tokenizer)
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
                    pad_token_id=decoder.eos_token_id,
                )
            new = out[0][inputs["input_ids"].shape[1] :]
            tokens += int(new.shape[0])
            texts.append(decoder.decode(new, skip_special_tokens=True))
        shown_to = [messages, [hashlib.sha256(i.data).hexdigest() for i in shown]] if shown else messages
        digest = hashlib.sha256(json.dumps(shown_to, sort_keys=True).encode()).hexdigest()
        return Generation(
            texts=texts,
            model=f"hf:{cfg.model_dir.name}",
            weights_version=self._weights_version,
            prompt_sha256=digest,
            completion_tokens=tokens,
            image_frames=tuple(i.frame_index for i in shown),
            extra={"prompt_tokens": float(inputs["input_ids"].shape[1])},
        )

    async def generate(self, job: SynthesisJob) -> Generation:
        return await asyncio.to_thread(self._generate, job)
