"""Loading a vision-language model folder with transformers: the model (safetensors only, hashes verified
against the folder's manifest) and its processor, without torchvision.

transformers 5.17's AutoProcessor refuses Idefics3's PIL image processor for want of torchvision (its import
scan is fooled by a docstring; agents/tiny_vlm.py), so a folder made by `agents.tiny_vlm` gets the
processor built from the PIL class; any other folder goes through AutoProcessor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.model_cache import load_kwargs, verify_manifest


def load_vision_model(model_dir: Path, dtype: str | None = None, verify: bool = True) -> tuple[Any, Any]:
    """(model, processor) of the folder; the model is an AutoModelForImageTextToText."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from agents.tiny_vlm import SPEC_NAME, load_processor

    model_dir = Path(model_dir)
    if verify:
        verify_manifest(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(str(model_dir), **load_kwargs(dtype))
    if (model_dir / SPEC_NAME).is_file():
        processor = load_processor(model_dir)
    else:
        processor = AutoProcessor.from_pretrained(str(model_dir))
    return model, processor


def hf_image_messages(messages: list[dict[str, Any]], frame_indices: list[int]) -> list[dict[str, Any]]:
    """The chat messages with the images named in time order after the last user turn's text, as
    transformers chat templates take them (`{"type": "image"}` parts; the pixels go to the processor in
    the same order), the way the vLLM backend shows them (agents.synthesis.vllm_vision.with_images)."""
    if not frame_indices or not messages or messages[-1]["role"] != "user":
        return messages
    parts: list[dict[str, Any]] = [
        {"type": "text", "text": messages[-1]["content"]},
        {"type": "text", "text": "\nKey frame images:"},
    ]
    for index in frame_indices:
        parts += [{"type": "text", "text": f"\nFrame {index}:"}, {"type": "image"}]
    return [*messages[:-1], {"role": "user", "content": parts}]
