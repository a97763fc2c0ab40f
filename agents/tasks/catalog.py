"""The task families Tailor knows, built from one `TasksConfig`: the built-in ones, then the plug-ins of
the `tailor.task_families` entry-point group (docs/extending.md)."""

from __future__ import annotations

from agents.tasks.base import TaskFamily, TaskOutput
from agents.tasks.catalog_config import TasksConfig
from agents.tasks.gui_action_extraction import GuiActionExtraction
from agents.tasks.gui_task_reconstruction import GuiTaskReconstruction
from agents.tasks.next_subtask import NextSubtaskFamily
from agents.tasks.robot_fault_recovery import RobotFaultRecovery
from agents.tasks.temporal_qa import TemporalQa
from agents.tasks.tutorial import Tutorial
from agents.tasks.world_model_sample import WorldModelSample
from core import plugins

DOMAINS = ("video", "gui", "robot")


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
    out.extend(plugin_families(cfg, {f.name for f in out}))
    for family in out:
        family.text_checks = cfg.text_checks
    return out


def plugin_families(cfg: TasksConfig, builtin: set[str]) -> list[TaskFamily]:
    """The installed plug-in families: a TaskFamily subclass is made like the built-ins, `cls(cfg.prompt)`; a
    function is called with the whole `TasksConfig` and must return a TaskFamily."""
    out = []
    for p in plugins.load(
        plugins.TASK_FAMILIES,
        builtin,
        plugins.class_or_function(TaskFamily),
        "a TaskFamily subclass or a function of the TasksConfig returning one",
    ):
        family: TaskFamily = plugins.build(p, TaskFamily, cfg.prompt if isinstance(p.obj, type) else cfg)
        plugins.same_name(p, getattr(family, "name", None))
        domains = getattr(family, "domains", ())
        if not domains or any(d not in DOMAINS for d in domains):
            raise p.error("bad_domains", f"domains {domains!r}; each must be one of {DOMAINS}")
        if not plugins.is_subclass(getattr(family, "output_model", None), TaskOutput):
            raise p.error("wrong_type", "its output_model is not a TaskOutput subclass")
        out.append(family)
    return out
