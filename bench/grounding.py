"""Grounding precision and density of a prediction.

- Grounding precision: of everything the parsed output cites (every frame index, range ends included,
  and every GUI action), the fraction that exists in the window's anchors. A frame exists when it lies in
  the window and is an anchor's frame, span end or evidence frame, a key frame, or the window's first or
  last frame; an action exists when a `gui_action` anchor at its frame matches it the way Tailor's
  ActionsAnchored validator matches (type, point within tolerance or inside the box, target, box IoU,
  typed text). None when the output does not parse or cites nothing.
- Density: output tokens per second of raw stream. Tokens: SmolLM2's tokenizer on the raw output text
  (whitespace words as the fallback, reported); seconds: the window's span, plus one step interval for
  robot and GUI windows (their span ends at the last step's timestamp, a video span at the end of its
  last segment).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from agents.tasks.anchor_view import anchored_frames, of_type
from agents.tasks.base import SynthesisContext, TaskFamily, TaskOutput
from agents.tasks.gui_action_extraction import GuiActionExtraction
from agents.tasks.gui_action_extraction_config import GuiActionExtractionConfig
from agents.tasks.validators import action_mismatch
from core.records import AnchorSet

log = logging.getLogger(__name__)


def grounding_precision(family: TaskFamily, ctx: SynthesisContext, output: TaskOutput) -> float | None:
    a = ctx.anchors
    known = anchored_frames(a) | {0, max(0, a.num_frames - 1)}
    frames = output.frame_cites()
    grounded = sum(1 for c in frames if 0 <= c.frame < a.num_frames and c.frame in known)
    actions = output.action_cites()
    if actions:
        cfg = family.config if isinstance(family, GuiActionExtraction) else GuiActionExtractionConfig()
        anchored = of_type(a, "gui_action")
        grounded += sum(
            1
            for c in actions
            if any(
                x.frame_index == c.frame
                and action_mismatch(c, x, cfg.point_tolerance_px, cfg.min_box_iou) is None
                for x in anchored
            )
        )
    total = len(frames) + len(actions)
    return grounded / total if total else None


def stream_seconds(anchors: AnchorSet) -> float:
    span = anchors.span.end_time - anchors.span.start_time
    if anchors.domain != "video" and anchors.num_frames > 1:
        span += span / (anchors.num_frames - 1)
    return max(span, 0.0)


class TokenCounter:
    """SmolLM2's tokenizer (loaded once per process) or whitespace words."""

    _loaded: dict[Path, Any] = {}
    _lock = threading.Lock()

    def __init__(self, kind: str, tokenizer_file: Path) -> None:
        self.kind = kind
        self.tokenizer_file = tokenizer_file

    @property
    def name(self) -> str:
        return "smollm2" if self._tokenizer() is not None else "whitespace"

    def _tokenizer(self) -> Any:
        if self.kind != "smollm2":
            return None
        with self._lock:
            if self.tokenizer_file not in self._loaded:
                tok = None
                if self.tokenizer_file.is_file():
                    from tokenizers import Tokenizer

                    tok = Tokenizer.from_file(str(self.tokenizer_file))
                else:
                    log.warning("no tokenizer at %s: density counts whitespace words", self.tokenizer_file)
                self._loaded[self.tokenizer_file] = tok
            return self._loaded[self.tokenizer_file]

    def count(self, text: str) -> int:
        tok = self._tokenizer()
        if tok is None:
            return len(text.split())
        return len(tok.encode(text, add_special_tokens=False).ids)


def density(tokens: int, anchors: AnchorSet) -> float | None:
    seconds = stream_seconds(anchors)
    return tokens / seconds if seconds > 0 else None
