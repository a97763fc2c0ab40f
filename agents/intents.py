"""From a user's request — precise or vague — to typed task specs.

Rules read explicit options and cue words (domains, task words, budgets); a served model may add
families it judges relevant (validated against the catalogue and the domain). Explicit `--task`
wins over both. Vague requests with no task cue get every family that serves their domain.
"""

from __future__ import annotations

import json
import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

from agents.tasks.base import TaskFamily, TaskSpec
from core.errors import TailorError
from core.records import Intent

log = logging.getLogger(__name__)

DOMAIN_CUES: dict[str, tuple[str, ...]] = {
    "gui": (
        "gui",
        "web",
        "website",
        "browser",
        "app",
        "android",
        "screen",
        "click",
        "ui",
        "desktop",
        "agent",
    ),
    "robot": ("robot", "gripper", "manipulation", "arm", "grasp", "episode", "pick", "place"),
    "video": ("video", "clip", "footage", "movie", "camera", "recording", "film"),
}
FAMILY_CUES: dict[str, tuple[str, ...]] = {
    "temporal_qa": ("qa", "question", "temporal", "when does", "timestamp", "grounding in time"),
    "tutorial": ("tutorial", "how-to", "how to", "step-by-step", "step by step", "guide", "instructions"),
    "gui_task_reconstruction": (
        "long-horizon",
        "long horizon",
        "reconstruct",
        "reorder",
        "ordering",
        "fragment",
        "shuffled",
    ),
    "gui_action_extraction": (
        "action extraction",
        "extract actions",
        "actions",
        "click",
        "grounding",
        "action",
    ),
    "robot_fault_recovery": ("fault", "failure", "recovery", "recover", "error", "stall", "stuck"),
    "next_subtask": (
        "next step",
        "next subtask",
        "subtask",
        "planning",
        "plan",
        "long-horizon",
        "long horizon",
    ),
    "world_model_sample": (
        "world model",
        "world-model",
        "video generation",
        "video-gen",
        "generation",
        "motion",
    ),
}
_BUDGET = re.compile(r"\b(\d{1,7})\s*(?:examples?|samples?|items?)\b", re.IGNORECASE)


class IntentError(TailorError, ValueError):
    """A labelled failure of this module (`reason`, `detail`)."""


@dataclass(frozen=True)
class ParsedIntent:
    intent: Intent
    specs: list[TaskSpec]
    parsed_by: str  # explicit | rules | rules+model
    model_error: str | None = None  # the chooser was asked and failed (the rules stand alone)


class FamilyChooser(ABC):
    """A model that proposes task families for a request."""

    @abstractmethod
    async def choose(self, text: str, domain: str | None, options: list[str]) -> list[str]: ...


def _has(text: str, cue: str) -> bool:
    return re.search(r"(?<![a-z])" + re.escape(cue) + r"(?![a-z])", text) is not None


class IntentParser:
    def __init__(
        self,
        families: dict[str, TaskFamily],
        chooser: FamilyChooser | None = None,
        default_budget: int | None = None,
    ) -> None:
        self.families = families
        self.chooser = chooser
        self.default_budget = default_budget

    def domain_of(self, intent: Intent) -> str | None:
        if intent.domain:
            return intent.domain
        text = intent.text.lower()
        hits = [d for d, cues in DOMAIN_CUES.items() if any(_has(text, c) for c in cues)]
        return hits[0] if len(hits) == 1 else None

    def rule_families(self, intent: Intent, domain: str | None) -> list[str]:
        text = intent.text.lower()
        wanted = [name for name, cues in FAMILY_CUES.items() if any(_has(text, c) for c in cues)]
        serving = [n for n in self.families if domain is None or domain in self.families[n].domains]
        chosen = [n for n in wanted if n in serving]
        return chosen or serving  # vague: everything that serves the domain

    def budget_of(self, intent: Intent) -> int | None:
        if intent.budget:
            return intent.budget
        m = _BUDGET.search(intent.text)
        return int(m.group(1)) if m else self.default_budget

    def specs(self, intent: Intent, names: list[str], domain: str | None) -> list[TaskSpec]:
        budget = self.budget_of(intent)
        return [
            TaskSpec(
                task_family=n, intent_id=intent.intent_id, domain=domain, budget=budget, text=intent.text
            )
            for n in names
        ]

    def parse_rules(self, intent: Intent) -> ParsedIntent:
        domain = self.domain_of(intent)
        if intent.task:
            if intent.task not in self.families:
                raise IntentError(
                    "unknown_task", f"{intent.task!r}; known: {', '.join(sorted(self.families))}"
                )
            return ParsedIntent(intent, self.specs(intent, [intent.task], domain), "explicit")
        return ParsedIntent(intent, self.specs(intent, self.rule_families(intent, domain), domain), "rules")

    async def parse(self, intent: Intent) -> ParsedIntent:
        parsed = self.parse_rules(intent)
        if parsed.parsed_by == "explicit" or self.chooser is None:
            return parsed
        domain = self.domain_of(intent)
        options = [n for n in self.families if domain is None or domain in self.families[n].domains]
        try:
            proposed = await self.chooser.choose(intent.text, domain, options)
        except Exception as exc:  # the model is optional: rules stand on their own
            log.info("intent model unavailable (%s); rules only", exc)
            return ParsedIntent(parsed.intent, parsed.specs, parsed.parsed_by, f"{type(exc).__name__}: {exc}")
        have = {s.task_family for s in parsed.specs}
        extra = [n for n in dict.fromkeys(proposed) if n in options and n not in have]
        if not extra:
            return parsed
        names = [s.task_family for s in parsed.specs] + extra
        return ParsedIntent(intent, self.specs(intent, names, domain), "rules+model")


def chooser_schema(options: list[str]) -> dict[str, object]:
    return {
        "type": "object",
        "properties": {
            "task_families": {
                "type": "array",
                "items": {"type": "string", "enum": options},
                "maxItems": len(options),
            }
        },
        "required": ["task_families"],
        "additionalProperties": False,
    }


def chooser_messages(text: str, domain: str | None, options: list[str]) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": "You map a request for training data to task families. Answer JSON only.",
        },
        {
            "role": "user",
            "content": f"Request: {text}\nDomain: {domain or 'any'}\nFamilies: {', '.join(options)}\n"
            'Answer {"task_families": [...]} with the families that fit the request.',
        },
    ]


def parse_choice(raw: str, options: list[str]) -> list[str]:
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    names = data.get("task_families", []) if isinstance(data, dict) else []
    return [n for n in names if isinstance(n, str) and n in options]
