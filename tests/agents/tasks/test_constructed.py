"""Edge paths on small hand-made AnchorSets: multi-subtask GUI windows, merged fragments, deterministic
distractor shuffles, windows too small for a family, OCR text in video tutorials, action parsing."""

from __future__ import annotations

import pytest

from agents.extractors.gui.actions import action_content
from agents.tasks.anchor_view import parse_action
from agents.tasks.base import SynthesisContext, TaskFamily, TaskSpec, strip_fence
from agents.tasks.catalog import families as build_families
from agents.tasks.catalog_config import TasksConfig
from agents.tasks.gui_task_reconstruction import GuiTaskReconstruction, GuiTaskReconstructionOutput
from agents.tasks.gui_task_reconstruction_config import GuiTaskReconstructionConfig
from agents.tasks.next_subtask import NextSubtaskOutput
from agents.tasks.segments import tiled_units
from agents.tasks.tutorial import TutorialOutput
from core.records import AnchorSet, BBox, GuiAction, GuiTarget
from tests.agents.tasks.helpers import anchor, constructed


def gui_session(
    key: str,
    actions: list[str],
    subtasks: tuple[tuple[int, int, str], ...] = (),
    instruction: str = "book a table for two",
) -> AnchorSet:
    n = len(actions)
    anchors = [
        anchor("gui_action", i, content=c, evidence_frames=[i, i + 1] if i + 1 < n else [i])
        for i, c in enumerate(actions)
    ]
    anchors += [anchor("subtask", s, e, text) for s, e, text in subtasks]
    return constructed("gui", n, anchors, key=key, instruction=instruction)


SEARCH = ['click target="Search"', 'type target="Search" text="pizza"', 'click target="Luigi"']
BOOK = ['click target="Reserve"', 'type target="Guests" text="2"', 'click target="Confirm"', "done"]


def test_gui_subtasks_become_fragments_and_next_subtasks(families: dict[str, TaskFamily]) -> None:
    window = gui_session("s1", SEARCH + BOOK, ((0, 2, "find the restaurant"), (3, 6, "reserve a table")))
    ctx = SynthesisContext(window, TaskSpec("x"))
    units = tiled_units(window, 6)
    assert [(u.start, u.end, u.text) for u in units] == [
        (0, 2, "find the restaurant"),
        (3, 6, "reserve a table"),
    ]
    nxt = families["next_subtask"].rule_output(ctx)
    assert isinstance(nxt, NextSubtaskOutput)
    assert nxt.input_range == (0, 2) and nxt.next_subtask.range == (3, 6)
    assert nxt.next_subtask.text == "reserve a table"
    recon = families["gui_task_reconstruction"]
    out = recon.rule_output(ctx)
    assert isinstance(out, GuiTaskReconstructionOutput)
    assert [(p.start_frame, p.end_frame) for p in out.answer] == [(0, 2), (3, 6)]
    assert recon.validate(ctx, out) == []


def test_many_actions_are_merged_into_contiguous_fragments() -> None:
    actions = [f'click target="item {i}"' for i in range(10)]
    window = gui_session("long", actions)
    family = GuiTaskReconstruction(GuiTaskReconstructionConfig(max_true_fragments=4))
    ctx = SynthesisContext(window, TaskSpec(family.name))
    out = family.rule_output(ctx)
    assert isinstance(out, GuiTaskReconstructionOutput)
    spans = [(p.start_frame, p.end_frame) for p in out.answer]
    assert len(spans) == 4 and spans[0][0] == 0 and spans[-1][1] == 9
    assert all(b[0] == a[1] + 1 for a, b in zip(spans, spans[1:]))
    first = next(f.description for f in out.fragments if f.label == out.answer[0].label)
    assert first.startswith('Click "item 0"; then Click "item 1"')
    assert family.validate(ctx, out) == []


def test_distractor_shuffle_is_deterministic_and_foreign_only(families: dict[str, TaskFamily]) -> None:
    family = families["gui_task_reconstruction"]
    window = gui_session("s1", SEARCH)
    others = (gui_session("s2", BOOK), gui_session("s3", ['click target="Weather"', "scroll direction=down"]))
    same_key = gui_session("s1", ['click target="Other window of s1"', "done"])
    robot = constructed("robot", 10, [anchor("subtask", 0, 4, "reach"), anchor("subtask", 5, 9, "carry")])
    plans = [
        family.plan(SynthesisContext(window, TaskSpec(family.name), others)),  # type: ignore[attr-defined]
        family.plan(SynthesisContext(window, TaskSpec(family.name), (*reversed(others), same_key, robot))),  # type: ignore[attr-defined]
    ]
    assert plans[0] == plans[1]
    plan = plans[0]
    assert [p.label for p in plan] == list("ABCDE")
    assert sum(p.true for p in plan) == 3
    foreign = [p for p in plan if not p.true]
    assert len(foreign) == 2 and all(p.source in ("gui:s2:0", "gui:s3:0") for p in foreign)
    assert not any("Other window" in p.description for p in plan)
    # different windows shuffle differently
    orders = set()
    for i in range(8):
        w = gui_session(f"w{i}", SEARCH)
        orders.add(tuple(p.true for p in family.plan(SynthesisContext(w, TaskSpec(family.name), others))))  # type: ignore[attr-defined]
    assert len(orders) > 1


def test_windows_too_small_for_a_family(families: dict[str, TaskFamily]) -> None:
    empty = constructed("robot", 0, [])
    one = constructed("gui", 1, [anchor("gui_action", 0, content="home")])
    stall_at_end = constructed(
        "robot", 20, [anchor("stall", 12, 18, "stall: 7 steps"), anchor("subtask", 0, 19, "reach")]
    )
    for family in families.values():
        assert not family.applies(empty)
        assert not family.applies(one)
    assert not families["robot_fault_recovery"].applies(stall_at_end)  # nothing left to recover in
    assert families["robot_fault_recovery"].applies(
        constructed(
            "robot", 22, [anchor("stall", 12, 18, "stall: 7 steps"), anchor("subtask", 0, 21, "reach")]
        )
    )
    assert not families["temporal_qa"].applies(
        constructed("video", 50, [anchor("key_frame", 10, content="shot 0-49")])
    )


def test_video_tutorial_quotes_on_screen_text(families: dict[str, TaskFamily]) -> None:
    window = constructed(
        "video",
        60,
        [
            anchor("key_frame", 10, content="shot 0-29"),
            anchor("key_frame", 40, content="shot 30-59"),
            anchor("scene_cut", 30),
            anchor("motion", 0, 29, "static"),
            anchor("motion", 30, 59, "low"),
            anchor("ocr_text", 35, content="Displays"),
            anchor("ocr_text", 41, content="Join Displays"),
        ],
    )
    ctx = SynthesisContext(window, TaskSpec("tutorial"))
    out = families["tutorial"].rule_output(ctx)
    assert isinstance(out, TutorialOutput)
    assert [s.frame for s in out.steps] == [10, 40]
    assert (
        out.steps[1].text
        == 'Watch frames 30-59, low motion, after a scene cut, the screen reads "Displays / Join Displays"'
    )
    assert families["tutorial"].validate(ctx, out) == []


def test_point_inside_the_target_box_matches(families: dict[str, TaskFamily]) -> None:
    window = constructed(
        "gui",
        3,
        [
            anchor(
                "gui_action",
                0,
                content='click target="OK" role=button',
                point=(50.0, 20.0),
                bbox=BBox(x=0, y=0, w=100, h=40),
            ),
            anchor("gui_action", 1, content="done"),
        ],
    )
    ctx = SynthesisContext(window, TaskSpec("gui_action_extraction"))
    family = families["gui_action_extraction"]
    text = (
        '{"input_range": [0, 2], "actions": [{"frame": 0, "type": "click", "point": [90.0, 35.0]}, '
        '{"frame": 1, "type": "done"}]}'
    )
    assert family.validate(ctx, family.parse(text)) == []
    outside = text.replace("[90.0, 35.0]", "[150.0, 35.0]")
    assert {v.reason for v in family.validate(ctx, family.parse(outside))} == {"action_not_anchored"}


def test_action_content_reads_back() -> None:
    """The GUI expert's content string parses back into its parts (quotes made single by the expert)."""
    action = GuiAction(type="type", text='say "hi" there')
    content = action_content(action, GuiTarget(text="Message box", role="text box"), 200)
    parsed = parse_action(content)
    assert (parsed.type, parsed.target, parsed.role, parsed.text) == (
        "type",
        "Message box",
        "text_box",
        "say 'hi' there",
    )
    scroll = parse_action(
        action_content(GuiAction(type="scroll", x=10, y=300, end_x=10, end_y=100), None, 50)
    )
    assert (scroll.type, scroll.direction) == ("scroll", "up")


@pytest.mark.parametrize(
    "text,body",
    [
        ('  {"a": 1}  ', '{"a": 1}'),
        ('```json\n{"a": 1}\n```', '{"a": 1}'),
        ('```\n{"a": 1}\n```', '{"a": 1}'),
        ('```{"a": 1}```', '{"a": 1}'),
    ],
)
def test_strip_fence(text: str, body: str) -> None:
    assert strip_fence(text) == body


def test_config_reaches_the_families() -> None:
    cfg = TasksConfig.model_validate(
        {"world_model_sample": {"sample_frames": 4}, "gui_action_extraction": {"point_tolerance_px": 0.5}}
    )
    fams = {f.name: f for f in build_families(cfg)}
    window = constructed("video", 100, [anchor("motion", 10, 60, "high", value=9.0)])
    out = fams["world_model_sample"].rule_output(SynthesisContext(window, TaskSpec("world_model_sample")))
    assert out is not None and out.model_dump()["frames"] == [10, 27, 43, 60]
