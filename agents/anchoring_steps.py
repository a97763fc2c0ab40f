"""Per-domain anchoring steps: robot and GUI windows through their expert pipelines."""

from __future__ import annotations

from agents.anchoring import KeyFrame, WindowAnchoring, WindowFacts
from agents.extractors.gui.pipeline import GuiExpertPipeline
from agents.extractors.gui.window import GuiWindow
from agents.extractors.robot.key_frames import key_frame_camera
from agents.extractors.robot.pipeline import RobotExpertPipeline
from agents.extractors.robot.window import RobotWindow
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import GuiStep, RobotStep
from core.window import ClosedWindow


class RobotAnchoring(WindowAnchoring):
    def __init__(self, blobs: BlobStore, limits: LimitsConfig, pipeline: RobotExpertPipeline) -> None:
        super().__init__(blobs, limits)
        self.pipeline = pipeline

    def facts(self, window: ClosedWindow) -> WindowFacts:
        steps: list[RobotStep] = window.records
        win = RobotWindow.of(steps, self.blobs, self.limits)
        anchors = self.pipeline.run(win)
        start, end = win.steps[0].timestamp, win.steps[-1].timestamp
        chosen: dict[int, str] = {}  # frame -> camera
        keys = {a.frame_index for a in anchors if a.type == "key_frame" and key_frame_camera(a)}
        cameras = [c for a in anchors if a.type == "key_frame" and (c := key_frame_camera(a))]
        for i in self.cited_frames("robot", anchors, len(win), start, end, win.instruction):
            camera = next((c for c in cameras if c in win.steps[i].cameras), None)
            camera = camera or next(iter(sorted(win.steps[i].cameras)), None)
            if camera is not None:
                chosen[i] = camera
        for anchor in anchors:
            camera = key_frame_camera(anchor) if anchor.type == "key_frame" else None
            if camera and anchor.frame_index not in chosen:
                chosen[anchor.frame_index] = camera
        frames = []
        for i, camera in chosen.items():
            ref = win.steps[i].cameras.get(camera)
            if ref is not None:
                role = "key_frame" if i in keys else "cited"
                frames.append(KeyFrame(i, win.steps[i].timestamp, self.media(ref), ref.media_type, role))
        return WindowFacts(anchors, frames, len(win), start, end, win.instruction)


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
                frames.append(
                    KeyFrame(i, step.timestamp, self.media(step.screenshot), step.screenshot.media_type)
                )
        return WindowFacts(
            anchors, frames, len(win), win.steps[0].timestamp, win.steps[-1].timestamp, win.instruction
        )
