"""Key frames into vLLM chat requests: does the served model take images, how a prompt shows them, and
whether they fit the model's context.

- Capability: `vllm_vision` true/false decides; unset, the model is asked: its config.json names a vision
  tower (`agents.model_caps.takes_images`), read from the local model folder or from the folder the server
  reports as its model's `root` (GET /v1/models). A remote model whose folder this worker cannot see is
  text-only unless the setting says otherwise.
- Rendering: after the prompt's text, "Key frame images:" and, per image in time order, a text part
  "Frame N:" and an OpenAI `image_url` part (base64 PNG data URL), so the model can cite the frame it saw.
- Budget: the request is tokenised by the server first (POST /tokenize, which runs the model's processor on
  the images); while the prompt plus the completion budget is over `max_model_len`, the least salient image
  is dropped. A server without /tokenize is sent the images unchecked (vLLM then refuses an oversized
  request as a bad request).
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import httpx

from agents.model_caps import takes_images
from agents.synthesis.base import WindowImage

log = logging.getLogger(__name__)


def with_images(messages: list[dict[str, Any]], images: tuple[WindowImage, ...]) -> list[dict[str, Any]]:
    """The chat messages with `images` (any order) appended to the last user turn, in time order."""
    if not images or not messages or messages[-1]["role"] != "user":
        return messages
    parts: list[dict[str, Any]] = [
        {"type": "text", "text": messages[-1]["content"]},
        {"type": "text", "text": "\nKey frame images:"},
    ]
    for img in sorted(images, key=lambda i: i.frame_index):
        url = f"data:image/png;base64,{base64.b64encode(img.data).decode()}"
        parts.append({"type": "text", "text": f"\nFrame {img.frame_index}:"})
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return [*messages[:-1], {"role": "user", "content": parts}]


async def served_model_root(client: httpx.AsyncClient, model: str) -> Path | None:
    """The local folder the server loaded `model` from, if it reports one this process can read."""
    try:
        resp = await client.get("/v1/models")
        resp.raise_for_status()
        for entry in resp.json().get("data", []):
            if entry.get("id") == model or entry.get("parent") is None:
                root = entry.get("root")
                if isinstance(root, str) and (Path(root) / "config.json").is_file():
                    return Path(root)
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        log.warning("could not ask the vLLM server for its model (%s): treating it as text-only", exc)
    return None


async def detect_vision(client: httpx.AsyncClient, model: str, model_dir: Path | None) -> bool:
    folder = model_dir if model_dir is not None and (model_dir / "config.json").is_file() else None
    if folder is None:
        folder = await served_model_root(client, model)
    vision = folder is not None and takes_images(folder)
    log.info("served model %s takes images: %s (from %s)", model, vision, folder or "no readable config")
    return vision


async def prompt_tokens(
    client: httpx.AsyncClient, model: str, messages: list[dict[str, Any]]
) -> tuple[int, int] | None:
    """(prompt tokens, max_model_len) as the server counts them, or None when it cannot say."""
    try:
        resp = await client.post(
            "/tokenize", json={"model": model, "messages": messages, "add_generation_prompt": True}
        )
        if resp.status_code != 200:
            log.warning("vLLM /tokenize answered %d: %s", resp.status_code, resp.text[:200])
            return None
        data = resp.json()
        return int(data["count"]), int(data["max_model_len"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        log.warning("vLLM /tokenize failed: %s", exc)
        return None


async def fit_images(
    client: httpx.AsyncClient,
    model: str,
    messages: list[dict[str, Any]],
    images: tuple[WindowImage, ...],
    completion_tokens: int,
) -> tuple[list[dict[str, Any]], tuple[WindowImage, ...]]:
    """The messages with as many of `images` (most salient first) as fit beside `completion_tokens`."""
    kept = images
    while kept:
        shown = with_images(messages, kept)
        counted = await prompt_tokens(client, model, shown)
        if counted is None or counted[0] + completion_tokens <= counted[1]:
            return shown, kept
        log.info(
            "prompt of %d tokens + %d to complete > %d: dropping key frame %d",
            counted[0],
            completion_tokens,
            counted[1],
            kept[-1].frame_index,
        )
        kept = kept[:-1]
    return messages, ()
