"""Camera key-frame expert: the first and last frames and one frame at each event.

Events come from the experts it is given (gripper, contact / lift, stall by default); each chosen
frame names the camera to show, skipping blank cameras (e.g. Bridge's unused `image_3` slot).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from agents.extractors.base import Extractor
from agents.extractors.gui.spans import anchor_id
from agents.extractors.robot.key_frames_config import KeyFrameConfig
from agents.extractors.robot.window import RobotWindow
from core.records import Anchor

log = logging.getLogger(__name__)


def thin(frames: Sequence[int], keep: int) -> list[int]:
    """At most `keep` of the sorted `frames`, always the first and last, the rest evenly spaced."""
    if len(frames) <= keep:
        return list(frames)
    picks = np.linspace(0, len(frames) - 1, keep).round().astype(int)
    return sorted({frames[i] for i in picks})


def nearest_with_camera(window: RobotWindow, index: int) -> int | None:
    """The step nearest to `index` (earlier first on ties) that has any camera image."""
    n = len(window.steps)
    for d in range(n):
        for j in (index - d, index + d):
            if 0 <= j < n and window.steps[j].cameras:
                return j
    return None


def key_frame_camera(anchor: Anchor) -> str | None:
    """The camera a `key_frame` anchor names (`... camera=<name>`), or None."""
    _, sep, camera = anchor.content.rpartition(" camera=")
    return camera if sep and camera else None


class CameraKeyFrameExtractor(Extractor[RobotWindow]):
    """`key_frame` anchors: content = `<reasons> camera=<name>`, evidence = the frame index."""

    name = "key_frame"

    def __init__(
        self, event_sources: Sequence[Extractor[RobotWindow]], config: KeyFrameConfig | None = None
    ) -> None:
        self.event_sources = list(event_sources)
        self.config = config or KeyFrameConfig()

    def _camera_order(self, window: RobotWindow) -> list[str]:
        names = window.camera_names()
        preferred = [c for c in self.config.cameras if c in names]
        return preferred + [c for c in names if c not in preferred]

    def _camera(self, window: RobotWindow, index: int, order: Sequence[str]) -> str | None:
        """The first camera (in preference order) whose frame at `index` is not blank."""
        present = [c for c in order if c in window.steps[index].cameras]
        for camera in present:
            frame = window.camera_frame(index, camera)
            if frame is not None and float(np.asarray(frame.convert("L")).std()) > self.config.blank_std:
                return camera
        return None

    def extract(self, window: RobotWindow) -> list[Anchor]:
        n = len(window.steps)
        if n == 0:
            return []
        reasons: dict[int, list[str]] = {0: ["first"]}
        reasons.setdefault(n - 1, []).append("last")
        for source in self.event_sources:
            for event in source(window):
                reasons.setdefault(event.frame_index, []).append(event.type)
        order = self._camera_order(window)
        chosen: dict[int, list[str]] = {}
        for index in sorted(reasons):
            frame = nearest_with_camera(window, index)
            if frame is None:
                continue
            merged = chosen.setdefault(frame, [])
            for reason in reasons[index]:
                if reason not in merged:
                    merged.append(reason)
        anchors: list[Anchor] = []
        for frame in thin(sorted(chosen), self.config.max_key_frames):
            camera = self._camera(window, frame, order)
            if camera is None:
                continue
            anchors.append(
                Anchor(
                    anchor_id=anchor_id(self.name, "key_frame", frame),
                    type="key_frame",
                    frame_index=frame,
                    timestamp=window.steps[frame].timestamp,
                    content=f"{'+'.join(chosen[frame])} camera={camera}",
                    evidence_frames=[frame],
                )
            )
        return anchors
