"""What a model folder can do, from its config.json alone (no weights loaded)."""

from __future__ import annotations

import json
from pathlib import Path

# a vision-language model's config names its image encoder under one of these keys (Llava, Idefics3 and
# SmolVLM, Qwen2-VL and Qwen2.5-VL, PaliGemma, Gemma 3 use `vision_config`), or its architecture is one of these
VISION_KEYS = ("vision_config", "vision_tower", "mm_vision_tower", "visual")
MULTIMODAL_ARCHITECTURES = frozenset(
    {
        "Idefics3ForConditionalGeneration",
        "SmolVLMForConditionalGeneration",
        "LlavaForConditionalGeneration",
        "LlavaNextForConditionalGeneration",
        "LlavaOnevisionForConditionalGeneration",
        "Qwen2VLForConditionalGeneration",
        "Qwen2_5_VLForConditionalGeneration",
        "Qwen3VLForConditionalGeneration",
        "PaliGemmaForConditionalGeneration",
        "Gemma3ForConditionalGeneration",
        "MllamaForConditionalGeneration",
        "InternVLChatModel",
        "Phi3VForCausalLM",
        "MiniCPMV",
    }
)


def takes_images(model_dir: Path) -> bool:
    """Whether the model in `model_dir` has an image encoder (False when there is no readable config)."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(config, dict):
        return False
    archs = config.get("architectures")
    return any(config.get(k) for k in VISION_KEYS) or (
        isinstance(archs, list) and any(a in MULTIMODAL_ARCHITECTURES for a in archs)
    )
