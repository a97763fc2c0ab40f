"""A GUI step fully read and checked, waiting only for its replay wall-clock time; shared helpers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.limits_config import LimitsConfig
from core.records import GuiAction, GuiStep, MediaRef
from streaming.replay.base import MediaFactory, ReplayError, ReplayEvent, build_all, wall_time
from streaming.replay.checks import check_increasing, check_text, image_size, read_bytes

_IMAGE_TYPES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"RIFF": "image/webp"}


@dataclass(frozen=True)
class GuiStepDraft:
    session_id: str
    step_index: int
    at_s: float
    action: GuiAction
    screenshot: MediaRef | None = None
    html: str | None = None
    accessibility: str | None = None
    app: str | None = None
    url: str | None = None
    instruction: str | None = None
    is_last: bool = False
    source: str | None = None

    def build(self, timestamp: float) -> GuiStep:
        return GuiStep(
            session_id=self.session_id,
            step_index=self.step_index,
            timestamp=timestamp,
            screenshot=self.screenshot,
            action=self.action,
            html=self.html,
            accessibility=self.accessibility,
            app=self.app,
            url=self.url,
            instruction=self.instruction,
            is_last=self.is_last,
            source=self.source,
        )


def emit_session(
    drafts: Sequence[GuiStepDraft], t0: float, rate: float, limits: LimitsConfig
) -> Iterator[ReplayEvent]:
    """Events of one fully read session, after checking order and text sizes."""
    if not drafts:
        return
    what = f"session {drafts[0].session_id}"
    check_increasing([d.step_index for d in drafts], f"{what} steps")
    times = [d.at_s for d in drafts]
    if any(b < a for a, b in zip(times, times[1:], strict=False)):
        raise ReplayError("out_of_order_steps", f"{what}: step times go backwards")
    for d in drafts:
        check_text(d.html, f"{what} step {d.step_index} html", limits)
        check_text(d.accessibility, f"{what} step {d.step_index} accessibility", limits)
    yield from build_all(drafts, lambda d: d.build(wall_time(t0, d.at_s, rate)), what)


def load_screenshot(path: Path, media: MediaFactory, limits: LimitsConfig) -> tuple[MediaRef, int, int]:
    """A screenshot file as a MediaRef plus its (width, height), with type and size checks."""
    data = read_bytes(path, limits.max_image_pixels * 4, "screenshot")  # never more than raw RGBA
    media_type = next((t for magic, t in _IMAGE_TYPES.items() if data.startswith(magic)), None)
    if media_type is None:
        raise ReplayError("corrupt_image", f"{path} is not PNG, JPEG or WebP")
    width, height = image_size(data, str(path), limits)
    return media(data, media_type, width, height), width, height


def inside(root: Path, relative: str) -> Path:
    """`root / relative`, refusing absolute paths and `..` escapes."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ReplayError("path_outside_dataset", f"{relative!r} points outside {root}")
    return path
