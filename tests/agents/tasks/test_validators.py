"""Ungrounded or malformed outputs are rejected with their reason label.

Each case starts from the family's rule output on a real window, breaks one thing in its JSON (as a
model would), parses it back and runs every validator.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from agents.tasks.anchor_view import anchored_frames
from agents.tasks.base import SynthesisContext, TaskFamily, TaskSpec
from agents.tasks.text_checks import TEXT_REASONS
from core.records import AnchorSet

Edit = Callable[[dict[str, Any], AnchorSet], None]


def reasons(family: TaskFamily, ctx: SynthesisContext, edit: Edit) -> set[str]:
    rule = family.rule_output(ctx)
    assert rule is not None
    data = json.loads(rule.model_dump_json())
    edit(data, ctx.anchors)
    out = family.parse(json.dumps(data))
    # frame edits leave the texts naming the old frames, which the text validators flag (qa_inconsistent);
    # those are tested in test_text_checks.py, this file tests the frame and structure validators
    return {v.reason for v in family.validate(ctx, out)} - TEXT_REASONS


def unanchored(a: AnchorSet) -> int:
    return next(f for f in range(a.num_frames) if f not in anchored_frames(a))


def test_temporal_qa_rejections(families: dict[str, TaskFamily], umi_windows: list[AnchorSet]) -> None:
    family = families["temporal_qa"]
    ctx = SynthesisContext(umi_windows[1], TaskSpec(family.name))

    def out_of_window(d: dict[str, Any], a: AnchorSet) -> None:
        d["evidence_frames"][-1] = a.num_frames

    def zero_length(d: dict[str, Any], a: AnchorSet) -> None:
        d["input_video"] = [4, 4]
        d["evidence_frames"] = [4]

    def not_anchored(d: dict[str, Any], a: AnchorSet) -> None:
        d["evidence_frames"] = [unanchored(a)]

    def outside_input(d: dict[str, Any], a: AnchorSet) -> None:
        d["input_video"] = [10, 100]  # the grasp at frame 4 is before the clip

    def reversed_evidence(d: dict[str, Any], a: AnchorSet) -> None:
        d["evidence_frames"].reverse()

    assert reasons(family, ctx, out_of_window) == {
        "frame_out_of_window",
        "frame_not_anchored",
        "evidence_outside_input",
    }
    assert reasons(family, ctx, zero_length) == {"range_not_positive"}
    assert reasons(family, ctx, not_anchored) == {"frame_not_anchored"}
    assert reasons(family, ctx, outside_input) == {"evidence_outside_input"}
    assert reasons(family, ctx, reversed_evidence) == {"frames_out_of_order"}


def test_fault_recovery_rejections(families: dict[str, TaskFamily], umi_windows: list[AnchorSet]) -> None:
    family = families["robot_fault_recovery"]
    ctx = SynthesisContext(umi_windows[0], TaskSpec(family.name))  # stall 2-23, observation [0, 23]

    def freeze_outside(d: dict[str, Any], a: AnchorSet) -> None:
        d["observation"] = [10, 23]
        d["freeze_frame"] = 2

    def freeze_off_stall(d: dict[str, Any], a: AnchorSet) -> None:
        d["freeze_frame"] = 0  # a key frame, but no stall

    def reversed_range(d: dict[str, Any], a: AnchorSet) -> None:
        d["recovery"] = [60, 30]

    def recovery_early(d: dict[str, Any], a: AnchorSet) -> None:
        d["recovery"] = [20, 50]

    def beyond(d: dict[str, Any], a: AnchorSet) -> None:
        d["recovery"] = [24, 250]

    assert reasons(family, ctx, freeze_outside) == {"freeze_outside_observation"}
    assert reasons(family, ctx, freeze_off_stall) == {"freeze_not_on_stall"}
    assert reasons(family, ctx, reversed_range) == {"range_not_positive"}
    assert reasons(family, ctx, recovery_early) == {"recovery_not_after_observation"}
    assert reasons(family, ctx, beyond) == {"frame_out_of_window"}


def test_reconstruction_rejections(
    families: dict[str, TaskFamily], aitw: AnchorSet, mind2web: AnchorSet
) -> None:
    family = families["gui_task_reconstruction"]
    ctx = SynthesisContext(aitw, TaskSpec(family.name), (mind2web,))
    plan = family.plan(ctx)  # type: ignore[attr-defined]
    foreign = next(p.label for p in plan if not p.true)

    def overlap(d: dict[str, Any], a: AnchorSet) -> None:
        d["answer"][1]["start_frame"] = 0  # [0, 1] after [0, 0]

    def gap(d: dict[str, Any], a: AnchorSet) -> None:
        del d["answer"][1]

    def swapped(d: dict[str, Any], a: AnchorSet) -> None:
        d["answer"][1], d["answer"][2] = d["answer"][2], d["answer"][1]

    def relabelled(d: dict[str, Any], a: AnchorSet) -> None:
        d["answer"][0]["label"] = d["answer"][1]["label"]

    def distractor(d: dict[str, Any], a: AnchorSet) -> None:
        d["answer"][0]["label"] = foreign

    def missing_fragment(d: dict[str, Any], a: AnchorSet) -> None:
        d["fragments"] = [f for f in d["fragments"] if f["label"] != foreign]

    def moved(d: dict[str, Any], a: AnchorSet) -> None:
        d["answer"][1]["end_frame"] = 2
        d["answer"][2]["start_frame"] = 3
        d["answer"][2]["end_frame"] = 3
        del d["answer"][3]

    assert reasons(family, ctx, overlap) == {"fragments_overlap", "fragment_span_mismatch"}
    assert reasons(family, ctx, gap) == {"fragments_not_contiguous", "not_a_permutation"}
    assert reasons(family, ctx, swapped) == {"fragments_overlap", "fragments_not_contiguous"}
    assert reasons(family, ctx, relabelled) == {"not_a_permutation", "fragment_span_mismatch"}
    assert reasons(family, ctx, distractor) == {"distractor_in_answer", "not_a_permutation"}
    assert reasons(family, ctx, missing_fragment) == {"fragment_mismatch"}
    assert reasons(family, ctx, moved) == {"fragment_span_mismatch", "not_a_permutation"}


def test_action_extraction_rejections(families: dict[str, TaskFamily], aitw: AnchorSet) -> None:
    family = families["gui_action_extraction"]
    ctx = SynthesisContext(aitw, TaskSpec(family.name))

    def wrong_type(d: dict[str, Any], a: AnchorSet) -> None:
        d["actions"][2]["type"] = "hover"

    def far_point(d: dict[str, Any], a: AnchorSet) -> None:
        d["actions"][2]["point"] = [20.0, 500.0]

    def near_point(d: dict[str, Any], a: AnchorSet) -> None:
        x, y = d["actions"][2]["point"]
        d["actions"][2]["point"] = [x + 3.0, y - 3.0]

    def other_target(d: dict[str, Any], a: AnchorSet) -> None:
        d["actions"][2]["target"] = "Calendar"

    def other_box(d: dict[str, Any], a: AnchorSet) -> None:
        d["actions"][2]["bbox"] = {"x": 10.0, "y": 10.0, "w": 50.0, "h": 20.0}

    def invented(d: dict[str, Any], a: AnchorSet) -> None:
        d["actions"][0]["point"] = [100.0, 100.0]  # "home" has no point

    def dropped(d: dict[str, Any], a: AnchorSet) -> None:
        del d["actions"][1]

    def beyond(d: dict[str, Any], a: AnchorSet) -> None:
        d["actions"][3]["frame"] = 9

    assert reasons(family, ctx, wrong_type) == {"action_not_anchored"}
    assert reasons(family, ctx, far_point) == {"action_not_anchored"}
    assert reasons(family, ctx, near_point) == set()  # within the pixel tolerance
    assert reasons(family, ctx, other_target) == {"action_not_anchored"}
    assert reasons(family, ctx, other_box) == {"action_not_anchored"}
    assert reasons(family, ctx, invented) == {"action_not_anchored"}
    assert reasons(family, ctx, dropped) == {"action_missing"}
    assert reasons(family, ctx, beyond) == {
        "frame_out_of_window",
        "frame_not_anchored",
        "action_not_anchored",
        "action_outside_input",
        "action_missing",
    }


def test_typed_text_must_match(families: dict[str, TaskFamily], mind2web: AnchorSet) -> None:
    family = families["gui_action_extraction"]
    ctx = SynthesisContext(mind2web, TaskSpec(family.name))

    def typo(d: dict[str, Any], a: AnchorSet) -> None:
        d["actions"][1]["text"] = "10204"

    def case_and_space(d: dict[str, Any], a: AnchorSet) -> None:
        d["actions"][0]["text"] = "  Wedding   Photographer "

    assert reasons(family, ctx, typo) == {"action_not_anchored"}
    assert reasons(family, ctx, case_and_space) == set()


def test_tutorial_rejections(families: dict[str, TaskFamily], bikes: AnchorSet) -> None:
    family = families["tutorial"]
    ctx = SynthesisContext(bikes, TaskSpec(family.name))

    def shuffled(d: dict[str, Any], a: AnchorSet) -> None:
        d["steps"].reverse()

    def invented_frame(d: dict[str, Any], a: AnchorSet) -> None:
        d["steps"][0]["frame"] = unanchored(a)

    assert reasons(family, ctx, shuffled) == {"frames_out_of_order"}
    assert reasons(family, ctx, invented_frame) == {"frame_not_anchored"}


def test_next_subtask_rejections(families: dict[str, TaskFamily], umi_windows: list[AnchorSet]) -> None:
    family = families["next_subtask"]
    ctx = SynthesisContext(umi_windows[1], TaskSpec(family.name))  # input [0, 3], next carry [4, 107]

    def overlapping(d: dict[str, Any], a: AnchorSet) -> None:
        d["input_range"] = [0, 16]

    def zero(d: dict[str, Any], a: AnchorSet) -> None:
        d["next_subtask"]["range"] = [4, 4]

    assert reasons(family, ctx, overlapping) == {"next_not_after_input"}
    assert reasons(family, ctx, zero) == {"range_not_positive"}


def test_world_model_rejections(families: dict[str, TaskFamily], bikes: AnchorSet) -> None:
    family = families["world_model_sample"]
    ctx = SynthesisContext(bikes, TaskSpec(family.name))  # segment [30, 75]

    def frame_outside(d: dict[str, Any], a: AnchorSet) -> None:
        d["frames"][-1] = 80

    def plan_outside(d: dict[str, Any], a: AnchorSet) -> None:
        d["motion_plan"].append({"frame": 115, "description": "another shot"})

    assert reasons(family, ctx, frame_outside) == {"frame_outside_segment"}
    assert reasons(family, ctx, plan_outside) == {"plan_outside_segment"}


@pytest.mark.parametrize(
    "text,reason",
    [
        ("not json at all", "invalid_json"),
        ('{"question": "q", "answer": "a"', "invalid_json"),
        ("[1, 2, 3]", "schema_mismatch"),
        ('{"question": "q", "answer": "a", "cot": "c", "input_video": [0, 9]}', "schema_mismatch"),
        (
            '{"question": "q", "answer": "a", "cot": "c", "input_video": [0, 9], "evidence_frames": [1], "x": 1}',
            "schema_mismatch",
        ),
        (
            '{"question": "q", "answer": "a", "cot": "c", "input_video": ["0", 9], "evidence_frames": [1]}',
            "schema_mismatch",
        ),
        (
            '{"question": "q", "answer": "a", "cot": "c", "input_video": [0, 9, 10], "evidence_frames": [1]}',
            "schema_mismatch",
        ),
        (
            '{"question": "q", "answer": "a", "cot": "c", "input_video": [0, 9], "evidence_frames": [-1]}',
            "schema_mismatch",
        ),
        (
            '{"question": "", "answer": "a", "cot": "c", "input_video": [0, 9], "evidence_frames": [1]}',
            "schema_mismatch",
        ),
        (
            '{"question": "q", "answer": "a", "cot": "c", "input_video": [0, 9], "evidence_frames": [1.5]}',
            "schema_mismatch",
        ),
        (
            '{"question": "q", "answer": "a", "cot": "c", "input_video": [0, 9], "evidence_frames": [NaN]}',
            "schema_mismatch",
        ),
        ("[" * 40 + "]" * 40, "json_too_deep"),
        ('{"question": "' + "x" * 200_000 + '"}', "output_too_large"),
    ],
)
def test_parse_rejections(families: dict[str, TaskFamily], text: str, reason: str) -> None:
    from agents.tasks.base import ParseError

    with pytest.raises(ParseError) as err:
        families["temporal_qa"].parse(text)
    assert err.value.reason == reason


def test_parse_accepts_a_fenced_answer(families: dict[str, TaskFamily]) -> None:
    body = '{"question": "q", "answer": "a", "cot": "", "input_video": [0, 9], "evidence_frames": [1]}'
    out = families["temporal_qa"].parse(f"```json\n{body}\n```\n")
    assert out.model_dump()["evidence_frames"] == [1]


def test_wrong_family_output_is_a_type_error(families: dict[str, TaskFamily], bikes: AnchorSet) -> None:
    ctx = SynthesisContext(bikes, TaskSpec("tutorial"))
    other = families["world_model_sample"].rule_output(ctx)
    assert other is not None
    with pytest.raises(TypeError):
        families["tutorial"].trajectory(ctx, other)
