"""Settings of every task family, gathered for `registry()`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agents.tasks.base_config import PromptConfig
from agents.tasks.gui_action_extraction_config import GuiActionExtractionConfig
from agents.tasks.gui_task_reconstruction_config import GuiTaskReconstructionConfig
from agents.tasks.robot_fault_recovery_config import RobotFaultRecoveryConfig
from agents.tasks.text_checks_config import TextChecksConfig
from agents.tasks.world_model_sample_config import WorldModelSampleConfig


class TasksConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    prompt: PromptConfig = Field(
        default_factory=PromptConfig, description="Prompt size and output parsing limits."
    )
    gui_action_extraction: GuiActionExtractionConfig = Field(
        default_factory=GuiActionExtractionConfig, description="Matching of extracted actions to anchors."
    )
    gui_task_reconstruction: GuiTaskReconstructionConfig = Field(
        default_factory=GuiTaskReconstructionConfig, description="Fragments and distractors."
    )
    robot_fault_recovery: RobotFaultRecoveryConfig = Field(
        default_factory=RobotFaultRecoveryConfig,
        description="Observation and recovery ranges around a stall.",
    )
    world_model_sample: WorldModelSampleConfig = Field(
        default_factory=WorldModelSampleConfig, description="Segment choice and sampling."
    )
    text_checks: TextChecksConfig = Field(
        default_factory=TextChecksConfig,
        description="Text validators (language, grounding, question/answer, injection) and the sink's reward floor.",
    )
