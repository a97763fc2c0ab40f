"""TRL's vision-language rows: the synthesis prompt with a window's key frames, for SFT and DPO."""

from __future__ import annotations

from typing import Any

Message = dict[str, Any]


def vision_row(
    prompt: list[Message], answers: dict[str, Any], images: tuple[bytes, ...], frames: tuple[int, ...]
) -> dict[str, Any]:
    """A prompt with every turn as content parts, the key frames as image placeholders named "Frame N:" after
    the last user turn's text (as the backends show them), the pixels in an `images` column in the same
    order; `answers` are the row's other columns (SFT: completion; DPO: chosen and rejected), as parts."""
    import io

    from PIL import Image

    from agents.vision_model import hf_image_messages

    shown = hf_image_messages(prompt, list(frames))
    parts = [
        m if isinstance(m["content"], list) else {**m, "content": [{"type": "text", "text": m["content"]}]}
        for m in shown
    ]
    return {
        "prompt": parts,
        **answers,
        "images": [Image.open(io.BytesIO(data)).convert("RGB") for data in images],
    }


def assistant(text: str) -> list[Message]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]
