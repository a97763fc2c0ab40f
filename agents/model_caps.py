"""What a model folder can do, from its config.json alone (no weights loaded)."""

from __future__ import annotations

import json
from pathlib import Path

# a vision-language model's config names its image encoder under one of these keys (Llava, Idefics3 and
# SmolVLM, Qwen2-VL and Qwen2.5-VL, PaliGemma, Gemma 3 use `vision_config`)
VISION_KEYS = ("vision_config", "vision_tower", "mm_vision_tower", "visual")


def takes_images(model_dir: Path) -> bool:
    """Whether the model in `model_dir` has an image encoder (False when there is no readable config)."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and any(config.get(k) for k in VISION_KEYS)
