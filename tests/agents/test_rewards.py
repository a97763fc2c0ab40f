"""Rewards: R = 0.7·R_format + 1.0·R_anchor + 0.3·R_eff on real windows and on small constructed cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.rewards import (
    anchor_reward,
    efficiency_reward,
    fact_agreement,
    group_rewards,
    resample,
    reward_terms,
    trajectory_distance,
)
from agents.rewards_config import RewardsConfig
from agents.tasks.base import SynthesisContext, TaskFamily, TaskSpec, registry
from agents.tasks.catalog_config import TasksConfig
from agents.tasks.text_checks_config import TextChecksConfig
from core.blobstore import BlobStore
from core.records import AnchorSet
from tests.agents.tasks.helpers import robot_sets, video_sets

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
trajectories = st.lists(unit, min_size=1, max_size=40)


@pytest.fixture(scope="module")
def families() -> dict[str, TaskFamily]:
    return registry()


@pytest.fixture(scope="module")
def bikes(tmp_path_factory: pytest.TempPathFactory) -> AnchorSet:
    return next(a for a in video_sets(BlobStore.for_dir(tmp_path_factory.mktemp("v"))) if a.key == "bikes")


@pytest.fixture(scope="module")
def umi_grasp(tmp_path_factory: pytest.TempPathFactory) -> AnchorSet:
    windows = [a for a in robot_sets(BlobStore.for_dir(tmp_path_factory.mktemp("r"))) if a.num_frames == 200]
    return sorted(windows, key=lambda a: a.window_id)[1]


@given(trajectories, st.integers(min_value=2, max_value=120))
def test_resample_keeps_ends_and_bounds(traj: list[float], points: int) -> None:
    out = resample(traj, points)
    assert out.shape == (points,)
    assert out[0] == pytest.approx(traj[0]) and out[-1] == pytest.approx(traj[-1])
    assert min(traj) - 1e-12 <= out.min() and out.max() <= max(traj) + 1e-12


@given(trajectories)
def test_resample_preserves_monotone_order(traj: list[float]) -> None:
    rising = sorted(traj)
    assert np.all(np.diff(resample(rising, 50)) >= -1e-12)


@given(unit, st.integers(min_value=2, max_value=80))
def test_one_point_is_a_constant(value: float, points: int) -> None:
    assert np.all(resample([value], points) == value)


@given(trajectories, trajectories)
@settings(max_examples=200)
def test_distance_is_a_symmetric_bounded_gap(a: list[float], b: list[float]) -> None:
    d = trajectory_distance(a, b, 50)
    assert d == pytest.approx(trajectory_distance(b, a, 50))
    assert 0.0 <= d <= 1.0
    assert trajectory_distance(a, a, 50) == 0.0
    assert 0.0 < anchor_reward(a, b) <= 1.0


@given(trajectories)
def test_resampling_a_resampled_trajectory_is_stable(traj: list[float]) -> None:
    """Resampling a trajectory to its own length changes nothing."""
    assert np.allclose(resample(traj, len(traj)) if len(traj) > 1 else [traj[0]], traj)


def test_anchor_reward_values() -> None:
    assert anchor_reward([0.2, 0.5], [0.2, 0.5]) == 1.0
    assert anchor_reward([0.0, 0.8], [0.1, 0.9]) == pytest.approx(math.exp(-1.0))  # d = 0.1
    # a constant against a line through it: the mean gap over 50 evenly spaced points
    gap = float(np.mean(np.abs(np.linspace(0.3, 0.7, 50) - 0.5)))
    assert anchor_reward([0.5], [0.3, 0.7]) == pytest.approx(math.exp(-gap / 0.10))
    assert gap == pytest.approx(0.1 * 50 / 49)
    assert (
        anchor_reward([], [0.1]) == 0.0
        and anchor_reward([0.1], []) == 0.0
        and anchor_reward([0.1], None) == 0.0
    )
    assert anchor_reward([0.0, 0.8], [0.1, 0.9], RewardsConfig(anchor_scale=0.2)) == pytest.approx(
        math.exp(-0.5)
    )
    with pytest.raises(ValueError):
        resample([0.1, float("nan")], 50)
    with pytest.raises(ValueError):
        resample([], 50)


def shifted(text: str, shift: int, field: str) -> str:
    data = json.loads(text)
    data[field] = [min(f + shift, 249) for f in data[field]]
    return json.dumps(data)


def test_fact_agreement_values() -> None:
    """R_anchor against the window's facts: nearest-target distance in window fractions, exp(-d / 0.10)."""
    assert fact_agreement([10], [10, 50], 101, covers=False) == 1.0
    assert fact_agreement([20], [10, 50], 101, covers=False) == pytest.approx(
        math.exp(-1.0)
    )  # 10 frames = 0.1
    assert fact_agreement([10, 50], [10, 50], 101, covers=True) == 1.0
    # covering: half the precision gap (0) plus half the recall gap ((0 + 0.4) / 2)
    assert fact_agreement([10], [10, 50], 101, covers=True) == pytest.approx(math.exp(-0.1 / 0.10))
    assert fact_agreement([10], [], 101, covers=False) is None
    assert fact_agreement([], [10], 101, covers=False) == 0.0
    assert fact_agreement(
        [0], [100], 101, covers=False, config=RewardsConfig(anchor_scale=0.2)
    ) == pytest.approx(math.exp(-5.0))


def test_temporal_evidence_moving_off_the_events_lowers_r_anchor(
    families: dict[str, TaskFamily], umi_grasp: AnchorSet
) -> None:
    family = families["temporal_qa"]
    ctx = SynthesisContext(umi_grasp, TaskSpec(family.name))
    rule = family.rule_output(ctx)
    assert rule is not None
    targets = family.anchor_targets(ctx)
    assert set(rule.evidence_frames) <= set(targets)
    data = json.loads(rule.model_dump_json())
    gaps = []
    for shift in (0, 1, 3, 6):
        data["evidence_frames"] = [f + shift for f in rule.evidence_frames]
        r = reward_terms(family, ctx, json.dumps(data), None)["r_anchor"]
        gap = sum(min(abs(f - t) for t in targets) for f in data["evidence_frames"]) / len(
            data["evidence_frames"]
        )
        assert r == pytest.approx(math.exp(-(gap / (umi_grasp.num_frames - 1)) / 0.10))
        gaps.append((gap, r))
    assert gaps[0][1] == 1.0 and all(a[1] > b[1] for a, b in zip(gaps, gaps[1:]) if a[0] < b[0])


def test_a_valid_output_always_beats_an_invalid_one(
    families: dict[str, TaskFamily], umi_grasp: AnchorSet, bikes: AnchorSet
) -> None:
    """Real windows, every family that applies: the rules output with a needlessly long cot still beats
    the same output with one frame moved off its anchors (which keeps R_format and most of R_anchor)."""
    checked_families = 0
    for window in (umi_grasp, bikes):
        for family in families.values():
            ctx = SynthesisContext(window, TaskSpec(family.name))
            if not family.applies(window):
                continue
            rule = family.rule_output(ctx)
            assert rule is not None
            valid = rule.model_dump(mode="json")
            broken = json.loads(json.dumps(valid))
            moved = _move_one_frame(broken, window.num_frames)
            if not moved:
                continue
            texts = [json.dumps(valid), json.dumps(broken)]
            out = group_rewards(family, ctx, texts)
            assert out[0]["valid"] == 1.0 and out[1]["valid"] == 0.0, family.name
            assert out[1]["r_format"] == 1.0
            assert out[0]["r_total"] >= 0.7 > 0.0 >= out[1]["r_total"], (family.name, out)
            assert out[1]["r_total"] == pytest.approx(out[1]["r_base"] - 2.0)
            checked_families += 1
    assert checked_families >= 4


def _move_one_frame(data: dict, num_frames: int) -> bool:
    """Push the first grounded frame field found out of the window (in place); False if none."""
    for key in ("evidence_frames", "motion_plan", "steps", "freeze_frame", "next_subtask"):
        if key not in data:
            continue
        value = data[key]
        if key == "freeze_frame":
            data[key] = num_frames + 5
        elif key == "next_subtask":
            value["range"] = [value["range"][0], num_frames + 5]
        elif isinstance(value[0], dict):
            value[-1]["frame"] = num_frames + 5
        else:
            value[-1] = num_frames + 5
        return True
    return False


def with_cot(text: str, words: int) -> str:
    data = json.loads(text)
    data["cot"] = " ".join(["because"] * words)
    return json.dumps(data)


def test_efficiency_reward_rule() -> None:
    assert efficiency_reward(10, None) == 1.0
    assert efficiency_reward(0, 5.0) == 1.0
    assert efficiency_reward(10, 10.0) == 1.0
    assert efficiency_reward(8, 10.0) == 1.0
    assert efficiency_reward(20, 10.0) == pytest.approx(0.5)
    assert efficiency_reward(40, 10.0) == pytest.approx(0.25)


def placeholder_families() -> dict[str, TaskFamily]:
    """Families with the text validators off: the tests below score placeholder texts ("because because ...",
    "q"), which those validators reject (tests/agents/tasks/test_text_checks.py)."""
    return registry(TasksConfig(text_checks=TextChecksConfig(enabled=False)))


def test_group_rewards_compare_reasoning_with_the_top_half(
    families: dict[str, TaskFamily], umi_grasp: AnchorSet
) -> None:
    family = placeholder_families()["temporal_qa"]
    ctx = SynthesisContext(umi_grasp, TaskSpec(family.name))
    rule = family.rule_output(ctx)
    assert rule is not None
    good = rule.model_dump_json()
    texts = [
        with_cot(good, 10),  # grounded, short
        with_cot(shifted(good, 2, "evidence_frames"), 20),  # nearly grounded, twice as long
        with_cot(shifted(good, 60, "evidence_frames"), 5),  # far off: bottom half
        "{not json",  # bottom half, no reasoning
    ]
    out = group_rewards(family, ctx, texts)
    assert [t["r_format"] for t in out] == [1.0, 1.0, 1.0, 0.0]
    assert (
        out[0]["r_anchor"] == pytest.approx(1.0)
        and out[0]["r_anchor"] > out[1]["r_anchor"] > out[2]["r_anchor"]
    )
    # text 1's frames left their anchors: invalid. Top half = the valid text 0, then text 1 (the better
    # invalid one): mean 15 words
    assert [t["valid"] for t in out] == [1.0, 0.0, 0.0, 0.0]
    assert out[0]["r_eff"] == 1.0
    assert out[1]["r_eff"] == pytest.approx(15 / 20)
    assert out[2]["r_eff"] == 1.0  # shorter than the top half's mean
    assert out[3] == {
        "r_format": 0.0,
        "r_anchor": 0.0,
        "r_eff": 0.0,
        "r_base": 0.0,
        "r_total": -2.0,
        "valid": 0.0,
        "reasoning_words": 0.0,
    }
    for t in out:
        base = 0.7 * t["r_format"] + 1.0 * t["r_anchor"] + 0.3 * t["r_eff"]
        assert t["r_base"] == pytest.approx(base)
        assert t["r_total"] == pytest.approx(base if t["valid"] else base - 2.0)
    single = group_rewards(family, ctx, [with_cot(good, 200)])
    assert single[0]["r_eff"] == 1.0 and single[0]["r_total"] == pytest.approx(2.0)
    assert group_rewards(family, ctx, []) == []
    alone = reward_terms(family, ctx, with_cot(good, 30), 10.0)
    assert alone["r_eff"] == pytest.approx(1 / 3)


def test_format_reward_and_weights(families: dict[str, TaskFamily], umi_grasp: AnchorSet) -> None:
    family = families["temporal_qa"]
    ctx = SynthesisContext(umi_grasp, TaskSpec(family.name))
    schema_error = '{"question": "When?", "answer": "Frame 4"}'
    assert reward_terms(family, ctx, schema_error, None)["r_format"] == 0.0
    partial = reward_terms(family, ctx, schema_error, None, RewardsConfig(schema_error_credit=0.5))
    assert partial["r_format"] == 0.5 and partial["r_base"] == pytest.approx(0.35)
    assert partial["r_total"] == pytest.approx(0.35 - 2.0)
    assert reward_terms(family, ctx, "```", None)["r_format"] == 0.0
    rule = family.rule_output(ctx)
    assert rule is not None
    weighted = reward_terms(
        family, ctx, rule.model_dump_json(), None, RewardsConfig(w_format=1, w_anchor=2, w_eff=0)
    )
    assert weighted["r_total"] == pytest.approx(3.0)


def test_no_target_leaves_the_anchor_term_out(families: dict[str, TaskFamily], tmp_path: Path) -> None:
    """bigbuckbunny has one shot and no events: temporal_qa has no target there, so R_anchor is left out
    and the other terms are scaled to the full weight (not scored 0)."""
    bbb = next(a for a in video_sets(BlobStore.for_dir(tmp_path)) if a.key == "bigbuckbunny")
    family = placeholder_families()["temporal_qa"]
    ctx = SynthesisContext(bbb, TaskSpec(family.name))
    assert family.anchor_targets(ctx) == []
    frame = min(f.frame_index for f in bbb.key_frames)
    text = json.dumps(
        {"question": "q", "answer": "a", "cot": "c", "input_video": [0, 100], "evidence_frames": [frame]}
    )
    terms = reward_terms(family, ctx, text, None)
    assert "r_anchor" not in terms and terms["r_format"] == 1.0 and terms["valid"] == 1.0
    assert terms["r_total"] == pytest.approx((0.7 + 0.3) * 2.0 / 1.0)
