"""Prompts list the anchors as hard constraints, the frame range, the schema and the intent, and fit
a small model's context: under 1,500 tokens (SmolLM2's tokenizer) for a 200-step robot window."""

from __future__ import annotations

import functools
import json

import pytest
from tokenizers import Tokenizer

from agents.tasks.base import ChatMessage, SynthesisContext, TaskFamily, TaskSpec
from agents.tasks.base_config import PromptConfig
from agents.tasks.catalog import families as build_families
from agents.tasks.catalog_config import TasksConfig
from agents.tasks.prompting import compact_schema
from core.records import AnchorSet
from tests.agents.tasks.helpers import TOKENIZER, anchor, constructed

BUDGET = 1500
INTENT = "I need grasp-failure examples for my pick-and-place policy, please keep them short."


@functools.cache
def tokenizer() -> Tokenizer | None:
    return Tokenizer.from_file(str(TOKENIZER)) if TOKENIZER.is_file() else None


def count_tokens(messages: list[ChatMessage]) -> int:
    """Tokens of the chat (SmolLM2's tokenizer when cached, else about 4 characters a token), plus the
    template's few tokens per message."""
    tok = tokenizer()
    if tok is not None:
        return sum(len(tok.encode(m.content).ids) + 5 for m in messages)
    return sum(len(m.content) // 4 + 5 for m in messages)


def robot_families(families: dict[str, TaskFamily]) -> list[TaskFamily]:
    return [f for f in families.values() if "robot" in f.domains]


def test_prompts_carry_anchors_range_schema_and_intent(
    families: dict[str, TaskFamily], umi_windows: list[AnchorSet]
) -> None:
    for window in umi_windows:
        for family in robot_families(families):
            if not family.applies(window):
                continue
            messages = family.prompt(SynthesisContext(window, TaskSpec(family.name, text=INTENT)))
            assert [m.role for m in messages] == ["system", "user"]
            system, user = messages[0].content, messages[-1].content
            assert "frames 0-199" in user and "[0, 199]" in user
            assert INTENT in user
            assert len(window.anchors) <= PromptConfig().max_prompt_anchors
            for a in window.anchors:  # every anchor is listed with its type and frames
                assert f"- {a.type} {a.frame_index}" in user
            for field in family.output_model.model_fields:
                assert f'"{field}"' in system
            assert "HARD constraints" in user
            tokens = count_tokens(messages)
            # the system turn depends on the family only (a server's prefix cache keeps it across windows)
            assert messages[0] == family.prompt(SynthesisContext(umi_windows[0], TaskSpec(family.name)))[0]
            assert tokens < BUDGET, (family.name, window.window_id, tokens)


def test_every_family_prompt_fits_on_every_real_window(
    families: dict[str, TaskFamily], all_windows: list[AnchorSet], gui_windows: list[AnchorSet]
) -> None:
    for family in families.values():
        for window in all_windows:
            if family.applies(window):
                ctx = SynthesisContext(
                    window,
                    TaskSpec(family.name, text=INTENT),
                    tuple(g for g in gui_windows if g.key != window.key),
                )
                assert count_tokens(family.prompt(ctx)) < BUDGET, (family.name, window.window_id)


def crowded_robot_window() -> AnchorSet:
    """200 steps with many more anchors than a prompt may list: stalls, gripper events, key frames."""
    anchors = [
        anchor("subtask", 0, 99, "reach"),
        anchor("subtask", 100, 199, "carry"),
        anchor("instruction", 0, 199, "pick up the red block and put it in the bowl", evidence_frames=[]),
    ]
    for f in range(0, 200, 2):
        anchors.append(anchor("key_frame", f, content="stall camera=wrist"))
    for f in range(5, 190, 10):
        anchors.append(anchor("stall", f, f + 4, f"stall: 5 steps, largest step motion 0.000{f % 9}"))
        anchors.append(
            anchor(
                "gripper_close" if f % 20 == 5 else "gripper_open",
                f + 5,
                content="close source=gripper openness=0.12",
            )
        )
    return constructed(
        "robot",
        200,
        anchors,
        instruction="pick up the red block and put it in the bowl",
        key_frames=tuple(range(0, 200, 25)),
    )


def test_prompt_of_a_crowded_window_is_capped(families: dict[str, TaskFamily]) -> None:
    window = crowded_robot_window()
    assert len(window.anchors) > 140
    for family in robot_families(families):
        assert family.applies(window), family.name
        user = family.prompt(SynthesisContext(window, TaskSpec(family.name, text=INTENT)))[-1].content
        listed = [line for line in user.splitlines() if line.startswith("- ")]
        assert len(listed) == PromptConfig().max_prompt_anchors
        assert f"(+{len(window.anchors) - len(listed)} more anchors not listed)" in user
        assert (
            count_tokens(family.prompt(SynthesisContext(window, TaskSpec(family.name, text=INTENT)))) < BUDGET
        )
    # the family's relevant anchors are the ones kept: fault recovery keeps the stalls
    kept = families["robot_fault_recovery"].prompt(
        SynthesisContext(window, TaskSpec("robot_fault_recovery"))
    )[-1]
    assert sum(line.startswith("- stall ") for line in kept.content.splitlines()) == 19


def test_rule_draft_is_included_on_request(umi_windows: list[AnchorSet]) -> None:
    family = {f.name: f for f in build_families(TasksConfig(prompt=PromptConfig(include_rule_draft=True)))}[
        "next_subtask"
    ]
    ctx = SynthesisContext(umi_windows[1], TaskSpec("next_subtask"))
    user = family.prompt(ctx)[-1].content
    rule = family.rule_output(ctx)
    assert rule is not None and rule.model_dump_json() in user
    assert count_tokens(family.prompt(ctx)) < BUDGET


def test_compact_schema_shapes() -> None:
    fams = {f.name: f for f in build_families()}
    assert compact_schema(fams["temporal_qa"].json_schema()) == (
        '{"question": str, "answer": str, "cot": str, "input_video": [int, int], "evidence_frames": [int, ...]}'
    )
    shape = compact_schema(fams["gui_action_extraction"].json_schema())
    assert '"type": click|type|select' in shape and '"point": [float, float]|null' in shape
    assert '"bbox": {"x": float, "y": float, "w": float, "h": float}|null' in shape
    for family in fams.values():  # the schema is valid JSON for vLLM's response_format
        json.dumps(family.response_format())


@pytest.mark.skipif(not TOKENIZER.is_file(), reason="SmolLM2 tokenizer not cached; the estimate is used")
def test_tokenizer_estimate_agrees_roughly(
    umi_windows: list[AnchorSet], families: dict[str, TaskFamily]
) -> None:
    messages = families["temporal_qa"].prompt(SynthesisContext(umi_windows[1], TaskSpec("temporal_qa")))
    chars = sum(len(m.content) for m in messages)
    assert chars / 6 < count_tokens(messages) < chars / 2
