"""Bottom-up robot experts: each turns a window of one episode's steps into typed anchors."""

from agents.extractors.robot.contact_lift import ContactLiftExtractor
from agents.extractors.robot.gripper import GripperEventExtractor
from agents.extractors.robot.key_frames import CameraKeyFrameExtractor
from agents.extractors.robot.pipeline import RobotExpertPipeline
from agents.extractors.robot.pipeline_config import RobotPipelineConfig
from agents.extractors.robot.stall import StallExtractor
from agents.extractors.robot.subtasks import SubtaskBoundaryExtractor
from agents.extractors.robot.window import RobotWindow

__all__ = [
    "CameraKeyFrameExtractor",
    "ContactLiftExtractor",
    "GripperEventExtractor",
    "RobotExpertPipeline",
    "RobotPipelineConfig",
    "RobotWindow",
    "StallExtractor",
    "SubtaskBoundaryExtractor",
]
