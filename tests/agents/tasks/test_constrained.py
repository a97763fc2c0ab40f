"""Per-window schemas (constrained decoding): they admit the window's valid outputs and nothing the frame
validators reject, on every window of the committed benchmark (real anchors of real recordings)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.tasks.base import TaskFamily, registry
from agents.tasks.constrained import ascending_runs, choice, conforms, fixed, obj, seq, text, token_budget
from agents.tasks.validators import FramesAnchored, FramesInWindow, FramesOrdered, RangesPositive
from bench.case import BenchCase
from bench.scoring import context
from bench.store import load_cases

FRAME_CHECKS = (FramesInWindow(), FramesAnchored(), RangesPositive(), FramesOrdered())


@pytest.fixture(scope="module")
def cases() -> list[BenchCase]:
    return load_cases(split="all")


@pytest.fixture(scope="module")
def families() -> dict[str, TaskFamily]:
    return registry()


def frame_violations(family: TaskFamily, case: BenchCase, data: dict[str, Any]) -> list[str]:
    output = family.parse(json.dumps(data))
    ctx = context(case)
    return [
        v.reason
        for c in (*FRAME_CHECKS, *family.validators())
        for v in c.check(ctx, output)
        if not v.reason.startswith(("text_", "qa_", "injected"))
    ]


def test_schema_helpers() -> None:
    assert "enum" not in json.dumps(fixed({"a": [1, None]})).replace('"enum": [1]', "")  # scalars only
    node = obj({"a": fixed([0, 9]), "b": choice([[1], [1, 2]]), "c": text(5)})
    assert conforms({"a": [0, 9], "b": [1, 2], "c": "hi"}, node)
    assert not conforms({"a": [0, 9], "b": [2, 1], "c": "hi"}, node)
    assert not conforms({"a": [0, 9], "b": [1], "c": "too long"}, node)
    assert conforms({"a": [0, 9], "b": [1], "c": "too long"}, node, lengths=False)  # what the regex admits
    assert not conforms({"a": [0, 9], "b": [1], "c": "hi", "d": 1}, node)
    assert not conforms({"a": [0, 9], "b": [1]}, node)
    assert conforms([{"x": 1}], seq([fixed({"x": 1})])) and not conforms([], seq([fixed({"x": 1})]))
    assert ascending_runs([5, 1, 3], 2, 100) == [[1], [3], [5], [1, 3], [1, 5], [3, 5]]
    assert ascending_runs([5, 1, 3], 2, 4) == [[1], [3], [5], [1, 3]]
    assert 48 <= token_budget(node) < token_budget(obj({"a": fixed([0, 9]), "c": text(500)}))


def test_rules_outputs_fit_their_window_schema(
    cases: list[BenchCase], families: dict[str, TaskFamily]
) -> None:
    fitted = 0
    for case in cases:
        family = families[case.family]
        ctx = context(case)
        rule = family.rule_output(ctx)
        schema = family.window_schema(ctx)
        if rule is None:
            continue
        assert schema is not None, case.case_id
        assert conforms(rule.model_dump(mode="json"), schema), case.case_id
        fitted += 1
    assert fitted >= 60


def test_a_frame_outside_the_window_never_fits(
    cases: list[BenchCase], families: dict[str, TaskFamily]
) -> None:
    """Push any one frame of a fitting output out of the window: the schema refuses it."""
    checked = 0
    for case in cases:
        family = families[case.family]
        ctx = context(case)
        rule, schema = family.rule_output(ctx), family.window_schema(ctx)
        if rule is None or schema is None:
            continue
        data = rule.model_dump(mode="json")
        for path in _frame_paths(data):
            moved = json.loads(json.dumps(data))
            _set(moved, path, case.anchors.num_frames + 3)
            assert not conforms(moved, schema), (case.case_id, path)
            checked += 1
    assert checked > 200


def test_temporal_schema_admits_every_anchored_event_and_only_valid_evidence(
    cases: list[BenchCase], families: dict[str, TaskFamily]
) -> None:
    family = families["temporal_qa"]
    for case in (c for c in cases if c.family == "temporal_qa"):
        ctx = context(case)
        schema = family.window_schema(ctx)
        assert schema is not None, case.case_id
        last = case.anchors.num_frames - 1
        node = schema["properties"]["evidence_frames"]
        runs = [[f["enum"][0] for f in n["prefixItems"]] for n in node.get("anyOf", [node])]
        events = family.anchor_targets(ctx)
        base = {"question": "When?", "answer": "Then.", "cot": "", "input_video": [0, last]}
        for frame in events[:16]:
            assert conforms({**base, "evidence_frames": [frame]}, schema), (case.case_id, frame)
        for run in runs:  # everything the grammar admits passes the frame validators
            assert frame_violations(family, case, {**base, "evidence_frames": run}) == [], (case.case_id, run)
        loose = sorted(set(range(last + 1)) - {f for r in runs for f in r})
        if loose:
            assert not conforms({**base, "evidence_frames": [loose[0]]}, schema)


def test_next_subtask_schema_admits_only_legal_pairs(
    cases: list[BenchCase], families: dict[str, TaskFamily]
) -> None:
    family = families["next_subtask"]
    for case in (c for c in cases if c.family == "next_subtask"):
        schema = family.window_schema(context(case))
        assert schema is not None, case.case_id
        options = schema.get("anyOf", [schema])
        for option in options:
            props = option["properties"]
            data = {
                "input_range": _value(props["input_range"]),
                "next_subtask": {
                    "text": "reach the cup",
                    "range": _value(props["next_subtask"]["properties"]["range"]),
                },
                "cot": "from the anchors",
            }
            assert frame_violations(family, case, data) == [], (case.case_id, data)


def _value(node: dict[str, Any]) -> Any:
    """The one value a fixed node admits."""
    if "prefixItems" in node:
        return [_value(n) for n in node["prefixItems"]]
    return node["enum"][0]


def _frame_paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every integer frame value in an output (frames, ranges, evidence, placements)."""
    out: list[tuple[Any, ...]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.extend(_frame_paths(v, (*prefix, k)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.extend(_frame_paths(v, (*prefix, i)))
    elif isinstance(data, int) and not isinstance(data, bool):
        out.append(prefix)
    return out


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for p in path[:-1]:
        data = data[p]
    data[path[-1]] = value


def test_the_regex_admits_the_rules_outputs_and_refuses_frames_off_the_window(
    cases: list[BenchCase], families: dict[str, TaskFamily]
) -> None:
    import re

    from agents.tasks.constrained import to_regex

    checked = 0
    for case in cases:
        family = families[case.family]
        ctx = context(case)
        rule, schema = family.rule_output(ctx), family.window_schema(ctx)
        if rule is None or schema is None:
            continue
        pattern = re.compile(to_regex(schema))
        assert pattern.fullmatch(rule.model_dump_json()), case.case_id
        data = rule.model_dump(mode="json")
        for path in _frame_paths(data)[:3]:
            moved = json.loads(json.dumps(data))
            _set(moved, path, case.anchors.num_frames + 3)
            assert not pattern.fullmatch(json.dumps(moved, separators=(",", ":"), ensure_ascii=False)), (
                case.case_id
            )
        assert not pattern.fullmatch(json.dumps(data, indent=1)), case.case_id  # no free whitespace
        checked += 1
    assert checked >= 60
