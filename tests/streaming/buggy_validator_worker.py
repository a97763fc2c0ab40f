"""`tailor up` with a bug in one task family's validator (run by test_stage_failures.py).

    python -m tests.streaming.buggy_validator_worker      # settings from TAILOR_* like `tailor up`

The worker is the real one (same CLI, app, agents and rules backend); only the catalog it reads is swapped
for one whose next_subtask validator raises on the windows of BUGGY_KEY, as a real bug in a validator would.
"""

from __future__ import annotations

from pydantic import BaseModel

from agents.tasks import catalog
from agents.tasks.base import SynthesisContext, TaskFamily, Violation
from agents.tasks.catalog_config import TasksConfig
from agents.tasks.next_subtask import NextSubtaskFamily

BUGGY_KEY = "ep-buggy"

_families = catalog.families


class BuggyNextSubtask(NextSubtaskFamily):
    def validate(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        if ctx.anchors.key == BUGGY_KEY:
            raise ZeroDivisionError("a bug in the validator")
        return super().validate(ctx, output)


def families(config: TasksConfig | None = None) -> list[TaskFamily]:
    out = []
    for family in _families(config):
        if isinstance(family, NextSubtaskFamily):
            buggy = BuggyNextSubtask(family.prompt_config)
            buggy.text_checks = family.text_checks
            family = buggy
        out.append(family)
    return out


def main() -> None:
    from app.cli import main as cli

    catalog.families = families  # the worker looks the catalog up when it registers the synthesis stage
    cli(["up"])


if __name__ == "__main__":
    main()
