"""Read-only views of an AnchorSet that the task families share: frames, anchor kinds, GUI actions, phrases.

Pure functions; nothing here decides what an example contains.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

from core.records import Anchor, AnchorSet

# Anchor types that mark something happening at a moment (what questions and plans are about).
EVENT_TYPES = (
    "gripper_close",
    "gripper_open",
    "contact",
    "lift",
    "stall",
    "scene_cut",
    "text_appears",  # not ocr_text: text merely visible on a key frame is a state, not an event
    "gui_action",
    "app_transition",
    "url_transition",
    "screen_change",
)
_FIELD = re.compile(r'(\w+)=(?:"([^"]*)"|(\S+))')


def norm(frame: float, num_frames: int) -> float:
    """A frame index as a position in [0, 1] of the window: frame / max(1, num_frames - 1)."""
    return float(frame) / max(1, num_frames - 1)


def last_frame(anchors: AnchorSet) -> int:
    return max(0, anchors.num_frames - 1)


def ordered(anchors: list[Anchor]) -> list[Anchor]:
    """Anchors by frame, then span end, then id (a stable order for every family)."""
    return sorted(anchors, key=lambda a: (a.frame_index, a.end_frame_index or a.frame_index, a.anchor_id))


def of_type(anchors: AnchorSet, *types: str) -> list[Anchor]:
    return ordered([a for a in anchors.anchors if a.type in types])


def span_end(anchor: Anchor) -> int:
    return anchor.end_frame_index if anchor.end_frame_index is not None else anchor.frame_index


def anchored_frames(anchors: AnchorSet) -> set[int]:
    """Frames an output may cite: every anchor's frame, span end and evidence frames, and the key frames."""
    frames: set[int] = {kf.frame_index for kf in anchors.key_frames}
    for a in anchors.anchors:
        frames.add(a.frame_index)
        if a.end_frame_index is not None:
            frames.add(a.end_frame_index)
        frames.update(a.evidence_frames)
    return frames


def key_frame_indices(anchors: AnchorSet) -> list[int]:
    """Key frames of the window: stored key frames (not frames stored only because an example cites them)
    plus `key_frame` anchors, sorted, unique."""
    frames = {kf.frame_index for kf in anchors.key_frames if kf.role == "key_frame"}
    frames.update(a.frame_index for a in anchors.anchors if a.type == "key_frame")
    return sorted(f for f in frames if f < max(1, anchors.num_frames))


def seconds_into(anchors: AnchorSet, anchor: Anchor) -> float:
    return max(0.0, anchor.timestamp - anchors.span.start_time)


def seeded(window_id: str, salt: str) -> random.Random:
    """A random generator fixed by the window id: the same window always gives the same example."""
    digest = hashlib.sha256(f"{salt}\x00{window_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class ParsedAction:
    """A `gui_action` anchor's content read back: `type [direction=..] [target=".."] [role=..] [text=".."]`."""

    type: str
    target: str | None = None
    role: str | None = None
    text: str | None = None
    direction: str | None = None


def parse_action(content: str) -> ParsedAction:
    head, _, rest = content.strip().partition(" ")
    fields = {
        m.group(1): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _FIELD.finditer(rest)
    }
    return ParsedAction(
        type=head or "other",
        target=fields.get("target") or None,
        role=fields.get("role") or None,
        text=fields.get("text") or None,
        direction=fields.get("direction") or None,
    )


def action_phrase(action: ParsedAction) -> str:
    """An imperative sentence for one GUI action, e.g. `Type "10203" into "Zip code"`."""
    target = f' "{action.target}"' if action.target else ""
    if action.type == "type":
        typed = f' "{action.text}"' if action.text else " text"
        return f"Type{typed}" + (f' into "{action.target}"' if action.target else "")
    if action.type in ("scroll", "swipe"):
        return f"{action.type.capitalize()} {action.direction or ''}".rstrip() + (
            f" on{target}" if target else ""
        )
    if action.type == "home":
        return "Go to the home screen"
    if action.type == "back":
        return "Go back"
    if action.type == "done":
        return "Finish: the task is complete"
    if action.type == "key":
        return f"Press {action.text or 'a key'}"
    if action.type == "enter":
        return "Press Enter"
    if action.type == "wait":
        return "Wait for the screen to update"
    if action.type == "select":
        return (
            f'Select "{action.text}"' + (f" in{target}" if target else "")
            if action.text
            else f"Select{target}"
        )
    return f"{action.type.capitalize()}{target}"


def third_person(imperative: str) -> str:
    """`Scroll up` → `scrolls up`, `Go to ...` → `goes to ...` (the first word is the verb)."""
    verb, _, rest = imperative.partition(" ")
    verb = verb.lower().rstrip(":")
    ending = "es" if verb.endswith(("s", "sh", "ch", "x", "o")) else "s"
    return f"{verb}{ending} {rest}".strip()


def event_phrase(anchor: Anchor) -> str:
    """What happens at an event anchor, as a clause (`the gripper closes`)."""
    kind = anchor.type
    if kind == "gui_action":
        return "the user " + third_person(action_phrase(parse_action(anchor.content)))
    fixed = {
        "gripper_close": "the gripper closes",
        "gripper_open": "the gripper opens",
        "contact": "the gripper makes contact",
        "lift": "the object is lifted",
        "stall": "the motion stalls",
        "scene_cut": "the scene cuts",
        "screen_change": "the screen changes",
    }
    if kind in fixed:
        return fixed[kind]
    if kind == "app_transition":
        return f"the app changes ({anchor.content})"
    if kind == "url_transition":
        return f"the site changes ({anchor.content})"
    if kind == "text_appears":
        return f'the text "{anchor.content[:60]}" appears'
    if kind == "ocr_text":
        return f'the text "{anchor.content[:60]}" is visible'
    return f"{kind.replace('_', ' ')} happens"


def events(anchors: AnchorSet) -> list[Anchor]:
    """Event anchors in time order; `done` actions and minor screen changes are not events."""
    out = []
    for a in of_type(anchors, *EVENT_TYPES):
        if a.type == "gui_action" and parse_action(a.content).type == "done":
            continue
        if a.type == "screen_change" and a.content != "major":
            continue
        out.append(a)
    return out
