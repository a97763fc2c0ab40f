"""GUI action expert: one `gui_action` anchor per step (type, point, target box, compact content)."""

from __future__ import annotations

import logging
import re

from agents.extractors.base import Extractor
from agents.extractors.gui.actions_config import GuiActionConfig
from agents.extractors.gui.screen_parse import ScreenElement, nearest_element, parse_screen
from agents.extractors.gui.spans import anchor_id
from agents.extractors.gui.window import GuiWindow
from core.records import Anchor, BBox, GuiAction, GuiStep, GuiTarget

log = logging.getLogger(__name__)

_SPACE = re.compile(r"\s+")
POINTED = ("click", "hover", "type", "select")


def clean_text(text: str | None, limit: int) -> str:
    """One line, collapsed whitespace, double quotes made single, cut to `limit` characters."""
    if not text:
        return ""
    flat = _SPACE.sub(" ", text).strip().replace('"', "'")
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)] + "…"


def swipe_direction(action: GuiAction) -> str | None:
    """Direction the finger / wheel moved from (x, y) to (end_x, end_y): up, down, left or right."""
    if None in (action.x, action.y, action.end_x, action.end_y):
        return None
    assert (
        action.x is not None
        and action.y is not None
        and action.end_x is not None
        and action.end_y is not None
    )
    dx, dy = action.end_x - action.x, action.end_y - action.y
    if dx == 0 and dy == 0:
        return None
    if abs(dy) >= abs(dx):
        return "up" if dy < 0 else "down"
    return "left" if dx < 0 else "right"


def action_content(action: GuiAction, target: GuiTarget | None, limit: int) -> str:
    """Compact, stable description: `type [direction=..] [target=".."] [role=..] [text=".."]`."""
    parts: list[str] = [action.type]
    if action.type in ("scroll", "swipe"):
        direction = swipe_direction(action)
        if direction:
            parts.append(f"direction={direction}")
    if target is not None:
        label = clean_text(target.text, limit)
        if label:
            parts.append(f'target="{label}"')
        if target.role:
            parts.append(f"role={clean_text(target.role, 40).replace(' ', '_')}")
    typed = clean_text(action.text, limit)
    if typed:
        parts.append(f'text="{typed}"')
    return " ".join(parts)


def action_point(action: GuiAction, target: GuiTarget | None) -> tuple[float, float] | None:
    """The action's point, or the centre of its target box for pointed actions recorded without one."""
    if action.x is not None and action.y is not None:
        return (action.x, action.y)
    if target is not None and target.bbox is not None and action.type in POINTED:
        box = target.bbox
        return (box.x + box.w / 2.0, box.y + box.h / 2.0)
    return None


def resolve_target(step: GuiStep, max_distance: float) -> GuiTarget | None:
    """The step's target; when it names none, the screen-parse element under (or nearest) the point."""
    action = step.action
    if action.target is not None:
        return action.target
    if action.x is None or action.y is None or action.type in ("scroll", "swipe") or not step.accessibility:
        return None
    elements = parse_screen(step.accessibility)
    hit: ScreenElement | None = nearest_element(elements, action.x, action.y, max_distance)
    if hit is None:
        return None
    return GuiTarget(text=hit.text or None, role=hit.role, bbox=hit.bbox)


class GuiActionExtractor(Extractor[GuiWindow]):
    """Per-step `gui_action` anchors: point, target box, `action_content` string, evidence frames."""

    name = "gui_action"

    def __init__(self, config: GuiActionConfig | None = None) -> None:
        self.config = config or GuiActionConfig()

    def extract(self, window: GuiWindow) -> list[Anchor]:
        anchors: list[Anchor] = []
        last = len(window.steps) - 1
        for i, step in enumerate(window.steps):
            target = resolve_target(step, self.config.max_target_distance_px)
            bbox: BBox | None = target.bbox if target is not None else None
            evidence = [i] + ([i + 1] if self.config.evidence_next_frame and i < last else [])
            anchors.append(
                Anchor(
                    anchor_id=anchor_id(self.name, "gui_action", i),
                    type="gui_action",
                    frame_index=i,
                    timestamp=step.timestamp,
                    bbox=bbox,
                    point=action_point(step.action, target),
                    content=action_content(step.action, target, self.config.max_text_chars),
                    evidence_frames=evidence,
                )
            )
        return anchors
