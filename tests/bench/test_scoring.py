"""Scoring behaviour on real cases: perfect, invalid, shifted, incomplete, padded and unrelated outputs."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from bench.case import BenchCase
from bench.fields import field_terms, leaf_paths
from bench.grounding import TokenCounter, stream_seconds
from bench.scoring import CaseScorer
from bench.scoring_config import ScoringConfig

UNRELATED = "Bananas are a good source of potassium and are grown in tropical countries."


def text(data: dict[str, Any]) -> str:
    return json.dumps(data)


def test_the_reference_scores_one_on_every_case(all_cases: list[BenchCase], scorer: CaseScorer) -> None:
    for case in all_cases:
        s = scorer.score(case, text(case.reference))
        assert (s.g_json, s.s_field, s.s_traj) == (1.0, 1.0, 1.0), case.case_id
        assert s.s_semantic == pytest.approx(1.0, abs=1e-3), case.case_id
        assert s.s_total == pytest.approx(1.0, abs=1e-3), case.case_id
        assert s.parse_error is None


def test_s_accepted_scores_what_the_validators_reject_zero(
    all_cases: list[BenchCase], scorer: CaseScorer
) -> None:
    """A reference the validators reject (where anchors and annotations disagree) has S_total 1 but S_accepted 0:
    the pipeline would not keep it. One they accept keeps its S_total."""
    rejected = [c for c in all_cases if c.reference_violations]
    accepted = [c for c in all_cases if not c.reference_violations]
    assert rejected and accepted
    for case in rejected[:3] + accepted[:3]:
        s = scorer.score(case, text(case.reference))
        assert s.s_total == pytest.approx(1.0, abs=1e-3) and s.g_json == 1.0
        assert s.passed == (0.0 if case.reference_violations else 1.0), case.case_id
        assert s.s_accepted == (0.0 if case.reference_violations else s.s_total), case.case_id
    empty = scorer.score(accepted[0], "")
    assert (empty.passed, empty.s_accepted) == (0.0, 0.0)


def test_a_fenced_reference_still_parses(by_id: dict[str, BenchCase], scorer: CaseScorer) -> None:
    case = by_id["robot-bridge-00012-next_subtask"]
    s = scorer.score(case, "```json\n" + text(case.reference) + "\n```")
    assert s.g_json == 1.0 and s.s_total == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("raw", ["", "not json at all", '{"question": "x"', "[1, 2, 3]"])
def test_invalid_json_scores_zero(by_id: dict[str, BenchCase], scorer: CaseScorer, raw: str) -> None:
    s = scorer.score(by_id["robot-bridge-00012-temporal_qa"], raw)
    assert (s.g_json, s.s_traj, s.s_total) == (0.0, 0.0, 0.0)
    assert s.parse_error in ("invalid_json", "schema_mismatch")
    assert s.grounding_precision is None


@pytest.mark.parametrize(
    "raw", ["[" * 5000 + "]" * 5000, '{"question": "' + "x" * 300_000 + '"}', '{"a": ' * 40 + "1" + "}" * 40]
)
def test_absurd_outputs_score_zero_without_crashing(
    by_id: dict[str, BenchCase], scorer: CaseScorer, raw: str
) -> None:
    s = scorer.score(by_id["robot-bridge-00012-temporal_qa"], raw)
    assert (s.g_json, s.s_field, s.s_semantic, s.s_total) == (0.0, 0.0, 0.0, 0.0)
    assert s.parse_error in ("output_too_large", "json_too_deep")


def test_json_off_the_schema_gets_field_credit_but_no_total(
    by_id: dict[str, BenchCase], scorer: CaseScorer
) -> None:
    case = by_id["robot-bridge-00012-temporal_qa"]
    broken = dict(case.reference, evidence_frames=["7"])  # a string where the schema wants an int
    s = scorer.score(case, text(broken))
    assert s.parse_error == "schema_mismatch" and s.g_json == 0.0 and s.s_total == 0.0
    assert s.s_field > 0.9 and s.s_semantic == pytest.approx(1.0, abs=1e-3)


def test_a_shifted_trajectory_lowers_s_traj_by_exp_minus_d(
    by_id: dict[str, BenchCase], scorer: CaseScorer
) -> None:
    case = by_id["robot-umi-100-299-next_subtask"]
    ref = case.reference
    n = case.anchors.num_frames
    for k in (5, 20):
        moved = dict(
            ref,
            input_range=[f + k for f in ref["input_range"]],
            next_subtask=dict(ref["next_subtask"], range=[f + k for f in ref["next_subtask"]["range"]]),
        )
        s = scorer.score(case, text(moved))
        assert s.g_json == 1.0
        assert s.s_traj == pytest.approx(math.exp(-(k / (n - 1)) / 0.10), rel=1e-9)
        assert s.s_total < 1.0
    small = scorer.score(
        case, text(dict(ref, input_range=[ref["input_range"][0] + 1, ref["input_range"][1] + 1]))
    )
    assert 0 < small.s_traj < 1


def test_missing_optional_fields_lower_s_field(by_id: dict[str, BenchCase], scorer: CaseScorer) -> None:
    case = by_id["gui-aitw-0-3-gui_action_extraction"]
    ref = case.reference
    bare = dict(ref, actions=[dict(a, point=None, bbox=None, target=None) for a in ref["actions"]])
    s = scorer.score(case, text(bare))
    assert s.g_json == 1.0 and s.s_traj == 1.0
    ref_leaves, bare_leaves = leaf_paths(ref), leaf_paths(bare)
    dropped = len(ref_leaves - bare_leaves)
    assert dropped == 2 + 2 + 4 + 1  # scroll point (x, y), click point, box (x, y, w, h), target
    assert s.s_field == pytest.approx(0.7 * (len(ref_leaves) - dropped) / len(ref_leaves) + 0.3)
    fewer = scorer.score(case, text(dict(ref, actions=ref["actions"][:2], input_range=[0, 1])))
    assert fewer.g_json == 1.0 and fewer.s_field < 1.0


def test_extra_fields_count_as_extraneous(by_id: dict[str, BenchCase], scorer: CaseScorer) -> None:
    case = by_id["gui-mind2web-0-2-gui_action_extraction"]
    ref = case.reference
    padded = dict(
        ref,
        actions=[
            dict(
                a, bbox=a["bbox"] or {"x": 1.0, "y": 2.0, "w": 3.0, "h": 4.0}, point=a["point"] or [5.0, 6.0]
            )
            for a in ref["actions"]
        ],
    )
    coverage, extraneous = field_terms(ref, padded)
    assert coverage == 1.0 and extraneous > 0
    s = scorer.score(case, text(padded))
    assert s.g_json == 1.0 and s.s_field == pytest.approx(0.7 + 0.3 * (1 - extraneous))


def test_an_unrelated_answer_lowers_s_semantic(by_id: dict[str, BenchCase], scorer: CaseScorer) -> None:
    case = by_id["robot-bridge-00012-temporal_qa"]
    ref = case.reference
    unrelated = scorer.score(case, text(dict(ref, question=UNRELATED, answer=UNRELATED, cot=UNRELATED)))
    paraphrase = scorer.score(
        case,
        text(dict(ref, answer=f"The gripper is commanded to close at step {ref['evidence_frames'][0]}.")),
    )
    assert unrelated.g_json == 1.0 and unrelated.s_traj == 1.0
    assert unrelated.s_semantic < 0.3
    assert unrelated.s_semantic < paraphrase.s_semantic < 1.0
    assert unrelated.s_total < paraphrase.s_total < 1.0


def test_semantic_weights_renormalise_over_the_parts_a_family_has(
    by_id: dict[str, BenchCase], scorer: CaseScorer
) -> None:
    case = by_id["robot-bridge-00012-next_subtask"]  # answer (0.4) and cot (0.2), no question
    no_cot = scorer.score(case, text(dict(case.reference, cot="")))
    assert no_cot.s_semantic == pytest.approx(0.4 / 0.6, abs=1e-3)


def test_grounding_precision_counts_cites_on_anchors(by_id: dict[str, BenchCase], scorer: CaseScorer) -> None:
    case = by_id["gui-mind2web-0-2-gui_action_extraction"]
    assert scorer.score(case, text(case.reference)).grounding_precision == 1.0
    ref = case.reference
    moved = dict(
        ref,
        actions=[
            dict(a, point=[a["point"][0] + 300, a["point"][1]] if a["point"] else None)
            for a in ref["actions"]
        ],
    )
    s = scorer.score(case, text(moved))
    cites = 2 + 3 + 3  # input_range ends, action frames, actions
    assert s.grounding_precision == pytest.approx((cites - 1) / cites)  # the moved click is on no anchor
    outside = scorer.score(case, text(dict(ref, input_range=[0, 40])))
    assert outside.grounding_precision == pytest.approx((cites - 1) / cites)


def test_density_is_tokens_per_stream_second(by_id: dict[str, BenchCase]) -> None:
    words = CaseScorer(ScoringConfig(density_tokens="whitespace"))
    case = by_id["gui-aitw-0-3-tutorial"]
    raw = text(case.reference)
    s = words.score(case, raw)
    assert stream_seconds(case.anchors) == pytest.approx(4.0)  # 4 steps, one second apart
    assert s.tokens == len(raw.split()) and s.density == pytest.approx(len(raw.split()) / 4.0)
    smol = TokenCounter("smollm2", ScoringConfig().tokenizer_file)
    if smol.name == "smollm2":
        assert smol.count(raw) > len(raw.split())  # subword tokens outnumber words
