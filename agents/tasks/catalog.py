"""The task families Tailor knows, built from one `TasksConfig`."""

from __future__ import annotations

from agents.tasks.base import TaskFamily
from agents.tasks.catalog_config import TasksConfig
from agents.tasks.gui_action_extraction import GuiActionExtraction
from agents.tasks.gui_task_reconstruction import GuiTaskReconstruction
from agents.tasks.next_subtask import NextSubtaskFamily
from agents.tasks.robot_fault_recovery import RobotFaultRecovery
from agents.tasks.temporal_qa import TemporalQa
from agents.tasks.tutorial import Tutorial
from agents.tasks.world_model_sample import WorldModelSample


def families(config: TasksConfig | None = None) -> list[TaskFamily]:
    cfg = config or TasksConfig()
    p = cfg.prompt
    out: list[TaskFamily] = [
        TemporalQa(p),
        Tutorial(p),
        GuiTaskReconstruction(cfg.gui_task_reconstruction, p),
        GuiActionExtraction(cfg.gui_action_extraction, p),
        RobotFaultRecovery(cfg.robot_fault_recovery, p),
        NextSubtaskFamily(p),
        WorldModelSample(cfg.world_model_sample, p),
    ]
    for family in out:
        family.text_checks = cfg.text_checks
    return out
