"""Vague and precise intents parse into the expected task specs."""

from __future__ import annotations

import asyncio
import time

import pytest

from agents.intents import FamilyChooser, IntentError, IntentParser
from agents.tasks.catalog import families
from core.records import Intent


def parser(chooser: FamilyChooser | None = None) -> IntentParser:
    return IntentParser({f.name: f for f in families()}, chooser)


def intent(text: str, **kw: object) -> Intent:
    return Intent(intent_id="i-1", text=text, created_at=time.time(), **kw)  # type: ignore[arg-type]


def names(text: str, **kw: object) -> list[str]:
    return [s.task_family for s in parser().parse_rules(intent(text, **kw)).specs]


def test_vague_gui_long_horizon_request() -> None:
    parsed = parser().parse_rules(intent("make me some GUI long-horizon data"))
    assert {s.task_family for s in parsed.specs} == {"gui_task_reconstruction", "next_subtask"}
    assert {s.domain for s in parsed.specs} == {"gui"} and parsed.parsed_by == "rules"


def test_fully_vague_request_gets_every_family_of_its_domain() -> None:
    got = set(names("I need training data from my robot"))
    assert got == {f.name for f in families() if "robot" in f.domains}


def test_precise_requests() -> None:
    assert names("robot failure recovery examples, 50 examples please") == ["robot_fault_recovery"]
    spec = parser().parse_rules(intent("robot failure recovery examples, 50 examples please")).specs[0]
    assert spec.budget == 50 and spec.domain == "robot"
    assert names("temporal QA over video clips") == ["temporal_qa"]
    assert names("step-by-step tutorials from screen recordings") == ["tutorial"]
    assert names("world model samples for video generation", domain="video") == ["world_model_sample"]
    assert names("anything", task="gui_action_extraction", budget=7) == ["gui_action_extraction"]


def test_unknown_task_is_refused() -> None:
    with pytest.raises(IntentError) as err:
        parser().parse_rules(intent("x", task="poetry"))
    assert err.value.reason == "unknown_task"


def test_model_may_add_families_but_not_outside_the_domain() -> None:
    class Chooser(FamilyChooser):
        async def choose(self, text: str, domain: str | None, options: list[str]) -> list[str]:
            return ["gui_action_extraction", "robot_fault_recovery", "bogus"]

    parsed = asyncio.run(parser(Chooser()).parse(intent("make me some GUI long-horizon data")))
    assert parsed.parsed_by == "rules+model"
    assert [s.task_family for s in parsed.specs] == [
        "gui_task_reconstruction",
        "next_subtask",
        "gui_action_extraction",
    ]


def test_a_failing_model_falls_back_to_rules() -> None:
    class Down(FamilyChooser):
        async def choose(self, text: str, domain: str | None, options: list[str]) -> list[str]:
            raise ConnectionError("no server")

    parsed = asyncio.run(parser(Down()).parse(intent("make me some GUI long-horizon data")))
    assert parsed.parsed_by == "rules" and len(parsed.specs) == 2
