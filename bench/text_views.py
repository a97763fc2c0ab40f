"""Which text of each family's output S_semantic compares: a question, an answer and a reasoning (cot).

Views read plain JSON objects (so a schema-invalid prediction still has its texts); a missing or
non-string field reads as "". A family without one of the three leaves it out (its weight is
renormalised away):

| family | question | answer | cot |
|---|---|---|---|
| temporal_qa, robot_fault_recovery | question | answer | cot |
| next_subtask | – | next_subtask.text | cot |
| tutorial | title | step texts, in order | – |
| world_model_sample | – | prompt | plan descriptions, in order |
| gui_action_extraction | – | one line per action: type, target, typed text | – |
| gui_task_reconstruction | fragment descriptions, as listed | task + answered fragments' descriptions | – |
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

PARTS = ("question", "answer", "cot")


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def items(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


class TextView(ABC):
    """One family's mapping of its output onto question / answer / cot."""

    @abstractmethod
    def texts(self, output: dict[str, Any]) -> dict[str, str]:
        """Some of `question`, `answer`, `cot` → text."""


class QaView(TextView):
    def texts(self, output: dict[str, Any]) -> dict[str, str]:
        return {p: text(output.get(p)) for p in PARTS}


class NextSubtaskView(TextView):
    def texts(self, output: dict[str, Any]) -> dict[str, str]:
        nxt = output.get("next_subtask")
        return {
            "answer": text(nxt.get("text")) if isinstance(nxt, dict) else "",
            "cot": text(output.get("cot")),
        }


class TutorialView(TextView):
    def texts(self, output: dict[str, Any]) -> dict[str, str]:
        steps = "; ".join(text(s.get("text")) for s in items(output.get("steps")))
        return {"question": text(output.get("title")), "answer": steps}


class WorldModelView(TextView):
    def texts(self, output: dict[str, Any]) -> dict[str, str]:
        plan = "; ".join(text(s.get("description")) for s in items(output.get("motion_plan")))
        return {"answer": text(output.get("prompt")), "cot": plan}


class ActionsView(TextView):
    def texts(self, output: dict[str, Any]) -> dict[str, str]:
        lines = [
            " ".join(t for t in (text(a.get("type")), text(a.get("target")), text(a.get("text"))) if t)
            for a in items(output.get("actions"))
        ]
        return {"answer": "; ".join(lines)}


class ReconstructionView(TextView):
    def texts(self, output: dict[str, Any]) -> dict[str, str]:
        fragments = items(output.get("fragments"))
        by_label = {text(f.get("label")): text(f.get("description")) for f in fragments}
        ordered = "; then ".join(by_label.get(text(p.get("label")), "") for p in items(output.get("answer")))
        listed = "; ".join(text(f.get("description")) for f in fragments)
        return {"question": listed, "answer": f"{text(output.get('task'))}: {ordered}"}


VIEWS: dict[str, TextView] = {
    "temporal_qa": QaView(),
    "robot_fault_recovery": QaView(),
    "next_subtask": NextSubtaskView(),
    "tutorial": TutorialView(),
    "world_model_sample": WorldModelView(),
    "gui_action_extraction": ActionsView(),
    "gui_task_reconstruction": ReconstructionView(),
}


def view_of(family: str) -> TextView:
    if family not in VIEWS:
        raise KeyError(f"no text view for task family {family!r}")
    return VIEWS[family]
