"""`run_quality_bench` end to end with the rules baseline, and its input checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.backends import BenchBackendError
from bench.quality import run_quality_bench
from bench.quality_config import QualityBenchConfig
from bench.report import METRICS
from bench.store import DEFAULT_CASES_DIR, CaseSetError, read_version


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_rules_on_a_split(split: str, tmp_path: Path) -> None:
    out = tmp_path / "figures" / f"rules-{split}.json"
    figures = run_quality_bench("rules", split, json_path=out)
    assert json.loads(out.read_text()) == json.loads(json.dumps(figures))
    assert figures["backend"] == "rules" and figures["split"] == split and figures["model"] == "rules"
    assert figures["cases"] == read_version(DEFAULT_CASES_DIR).splits[split] == len(figures["per_case"])
    rows = figures["per_case"]
    for metric in METRICS:  # overall = mean over the cases; every figure in [0, 1]
        assert figures[metric] == pytest.approx(sum(r[metric] for r in rows) / len(rows), abs=1e-3)
        assert 0.0 <= figures[metric] <= 1.0
    assert set(figures["by_domain"]) == {"robot", "gui", "video"}
    assert sum(d["cases"] for d in figures["by_domain"].values()) == figures["cases"]
    assert sum(f["cases"] for f in figures["by_family"].values()) == figures["cases"]
    # the rules baseline is a baseline: far from the references on meaning and on some trajectories
    assert 0.3 < figures["s_total"] < 0.85 and figures["s_semantic"] < 0.7
    if split == "heldout":  # the single-shot clips (heldout recordings) have no rule output for temporal_qa
        assert figures["g_json"] < 1.0
        assert any(r["parse_error"] == "invalid_json" and r["output"] == "" for r in rows)
    assert 0.0 < figures["pass_rate"] <= figures["g_json"] and figures["s_accepted"] <= figures["s_total"]
    assert all(r["s_accepted"] == (r["s_total"] if r["passed"] else 0.0) for r in rows)
    assert 0.8 <= figures["grounding_precision"] <= 1.0  # rules cite anchors only (window ends included)
    assert figures["density_tokens_per_s"] > 0 and figures["settings"]["greedy"] is False
    assert figures["machine"]["cpu_count"] and figures["case_set"]["name"] == "v2"


def test_case_selection_and_limits() -> None:
    cfg = QualityBenchConfig(case_ids=["gui-mind2web-0-2-tutorial", "robot-bridge-00004-temporal_qa"])
    figures = run_quality_bench("rules", "heldout", config=cfg)
    assert [r["case_id"] for r in figures["per_case"]] == sorted(cfg.case_ids or [])
    assert run_quality_bench("rules", "all", config=QualityBenchConfig(limit=3))["cases"] == 3
    with pytest.raises(CaseSetError, match="unknown_case"):
        run_quality_bench("rules", "dev", config=QualityBenchConfig(case_ids=["gui-mind2web-0-2-tutorial"]))


def test_bad_inputs_are_refused_with_reasons(tmp_path: Path) -> None:
    with pytest.raises(BenchBackendError, match="bad_backend"):
        run_quality_bench("gpt", "dev")
    with pytest.raises(CaseSetError, match="bad_split"):
        run_quality_bench("rules", "test")
    with pytest.raises(CaseSetError, match="no_case_set"):
        run_quality_bench("rules", "dev", cases_dir=tmp_path)
    with pytest.raises(BenchBackendError, match="bad_weights"):
        run_quality_bench("hf", "dev", config=QualityBenchConfig(weights=tmp_path))
