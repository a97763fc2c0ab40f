"""The gate evaluates candidates where the workers generate: the running vLLM server when there is one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.trainer_service import gate_backend, quality_evaluator
from streaming.settings import TailorSettings


def test_auto_gate_uses_the_running_server_else_in_process(settings: TailorSettings) -> None:
    assert gate_backend(settings.model_copy(update={"vllm_url": None, "gate_backend": "auto"})) == "hf"
    served = settings.model_copy(update={"vllm_url": "http://127.0.0.1:8000", "gate_backend": "auto"})
    assert gate_backend(served) == "vllm"
    assert gate_backend(served.model_copy(update={"gate_backend": "hf"})) == "hf"


def test_vllm_gate_without_a_server_is_refused(settings: TailorSettings) -> None:
    with pytest.raises(ValueError, match="TAILOR_VLLM_URL"):
        gate_backend(settings.model_copy(update={"vllm_url": None, "gate_backend": "vllm"}))


def test_the_gate_scores_every_heldout_case(
    settings: TailorSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No first-N limit: the evaluator returns one score per case of the whole heldout split (here the
    real benchmark and scorer with the rules backend standing in for the model), and the same weights
    twice are a tie, which the gate does not publish."""
    import bench.quality
    from bench.store import load_cases
    from trainer.gate import Gate
    from trainer.weights import WeightsRef

    real = bench.quality.run_quality_bench
    seen: list[tuple[str, str, object]] = []

    def rules_instead(
        backend: str,
        split: str,
        cases_dir: Path | None = None,
        json_path: Path | None = None,
        config: object = None,
    ) -> dict[str, Any]:
        seen.append((backend, split, config))
        return real("rules", split, cases_dir, json_path, config)  # type: ignore[arg-type]

    monkeypatch.setattr(bench.quality, "run_quality_bench", rules_instead)
    evaluate = quality_evaluator(settings.model_copy(update={"vllm_url": None, "gate_backend": "auto"}))
    ref = WeightsRef(tmp_path, None, "base")
    scores = evaluate(ref)
    assert seen[0][:2] == ("hf", "heldout") and seen[0][2].limit is None
    heldout = load_cases(split="heldout")
    assert sorted(scores) == [c.case_id for c in heldout] and len(scores) == len(heldout)
    assert min(scores.values()) >= 0.0 and max(scores.values()) <= 1.0 and max(scores.values()) > 0
    d = Gate().decide(evaluate(ref), scores)
    assert not d.publish and d.reason == "tie" and d.cases == len(heldout)
