"""Per-domain anchoring steps: robot and GUI windows through their expert pipelines."""

from __future__ import annotations

from agents.anchoring import KeyFrame, WindowAnchoring, WindowFacts
from agents.extractors.gui.pipeline import GuiExpertPipeline
from agents.extractors.gui.window import GuiWindow
from agents.extractors.robot.pipeline import RobotExpertPipeline
from agents.extractors.robot.window import RobotWindow
from streaming.blobstore import BlobStore
from streaming.limits_config import LimitsConfig
from streaming.records import Anchor, GuiStep, RobotStep
from streaming.windows import ClosedWindow


def _key_frame_indices(anchors: list[Anchor], n: int) -> list[int]:
    picked = sorted({a.frame_index for a in anchors if a.type == "key_frame" and a.frame_index < n})
    return picked or ([0, n - 1] if n > 1 else [0])


class RobotAnchoring(WindowAnchoring):
    def __init__(self, blobs: BlobStore, limits: LimitsConfig, pipeline: RobotExpertPipeline) -> None:
        super().__init__(blobs, limits)
        self.pipeline = pipeline

    def facts(self, window: ClosedWindow) -> WindowFacts:
        steps: list[RobotStep] = window.records
        win = RobotWindow.of(steps, self.blobs, self.limits)
        anchors = self.pipeline.run(win)
        frames = []
        cameras = win.camera_names()
        for i in _key_frame_indices(anchors, len(win)):
            for cam in cameras[:1]:  # the first camera carries the key frames
                ref = win.steps[i].cameras.get(cam)
                if ref is not None:
                    frames.append(KeyFrame(i, win.steps[i].timestamp, self.media(ref), ref.media_type))
        return WindowFacts(anchors, frames, len(win), win.steps[0].timestamp, win.steps[-1].timestamp, win.instruction)


class GuiAnchoring(WindowAnchoring):
    def __init__(self, blobs: BlobStore, limits: LimitsConfig, pipeline: GuiExpertPipeline) -> None:
        super().__init__(blobs, limits)
        self.pipeline = pipeline

    def facts(self, window: ClosedWindow) -> WindowFacts:
        steps: list[GuiStep] = window.records
        win = GuiWindow.of(steps, self.blobs, self.limits)
        anchors = self.pipeline.run(win)
        frames = []
        for i, step in enumerate(win.steps):  # every GUI step's screen is a key frame (actions cite them)
            if step.screenshot is not None:
                frames.append(KeyFrame(i, step.timestamp, self.media(step.screenshot), step.screenshot.media_type))
        return WindowFacts(anchors, frames, len(win), win.steps[0].timestamp, win.steps[-1].timestamp, win.instruction)
