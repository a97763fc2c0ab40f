"""The robot expert pipeline: gripper events, contact / lift, stalls, subtasks, camera key frames, then the
installed plug-in experts of the robot domain (agents.extractors.plugins)."""

from __future__ import annotations

import logging

from agents.extractors.base import Extractor
from agents.extractors.gui.expert_pipeline import ExpertPipeline
from agents.extractors.plugins import plugin_experts
from agents.extractors.robot.contact_lift import ContactLiftExtractor
from agents.extractors.robot.gripper import GripperEventExtractor
from agents.extractors.robot.key_frames import CameraKeyFrameExtractor
from agents.extractors.robot.pipeline_config import RobotPipelineConfig
from agents.extractors.robot.stall import StallExtractor
from agents.extractors.robot.subtasks import SubtaskBoundaryExtractor
from agents.extractors.robot.window import RobotWindow

log = logging.getLogger(__name__)


class RobotExpertPipeline(ExpertPipeline[RobotWindow]):
    """Anchors of one robot window from the standard robot experts (or any list given)."""

    @classmethod
    def default(cls, config: RobotPipelineConfig | None = None) -> RobotExpertPipeline:
        cfg = config or RobotPipelineConfig()
        gripper = GripperEventExtractor(cfg.gripper)
        contact_lift = ContactLiftExtractor(cfg.contact_lift)
        stall = StallExtractor(cfg.stall)
        steps: list[Extractor[RobotWindow]] = [
            gripper,
            contact_lift,
            stall,
            SubtaskBoundaryExtractor(cfg.subtasks),
            CameraKeyFrameExtractor([gripper, contact_lift, stall], cfg.key_frames),
        ]
        steps.extend(plugin_experts("robot", [s.name for s in steps]))
        return cls(steps, on_error=cfg.on_error)
