"""Base of the video experts: prerequisites and anchor construction; subclasses own `extract`."""

from __future__ import annotations

from typing import ClassVar

from agents.extractors.base import Extractor, ExtractorError
from agents.extractors.video.window import VideoWindow
from core.records import Anchor, BBox


class VideoExpert(Extractor[VideoWindow]):
    """A video expert; `requires` names the experts whose anchors it reads from `window.found`."""

    requires: ClassVar[tuple[str, ...]] = ()

    def __call__(self, window: VideoWindow) -> list[Anchor]:
        missing = [name for name in self.requires if name not in window.completed]
        if missing:
            raise ExtractorError(self.name, "missing_prerequisite", f"run {missing} on the window first")
        return super().__call__(window)

    def anchor(
        self,
        window: VideoWindow,
        position: int,
        *,
        kind: str | None = None,
        end_position: int | None = None,
        value: float | None = None,
        content: str = "",
        bbox: BBox | None = None,
        suffix: str = "",
    ) -> Anchor:
        """An anchor at a window position (and span end), with a stable id `type:frame[:suffix]`."""
        anchor_type = kind or self.name
        index = int(window.indices[position])
        end_index = None if end_position is None else int(window.indices[end_position])
        anchor_id = f"{anchor_type}:{index}" + (f"-{end_index}" if end_index is not None else "")
        return Anchor(
            anchor_id=anchor_id + (f":{suffix}" if suffix else ""),
            type=anchor_type,
            frame_index=index,
            timestamp=round(float(window.timestamps[position]), 6),
            end_frame_index=end_index,
            end_timestamp=None if end_position is None else round(float(window.timestamps[end_position]), 6),
            value=None if value is None else round(float(value), 6),
            content=content,
            bbox=bbox,
            evidence_frames=[index] if end_index is None else [index, end_index],
        )
