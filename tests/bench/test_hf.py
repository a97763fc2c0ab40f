"""The hf backend path with the real SmolLM2-135M (greedy, one thread, short outputs), with and without a
LoRA adapter as the weights version."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.quality import run_quality_bench
from bench.quality_config import QualityBenchConfig
from bench.report import METRICS

CASES = ["robot-bridge-00004-temporal_qa", "gui-mind2web-0-2-temporal_qa"]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    path = QualityBenchConfig().model_dir
    if not (path / "config.json").is_file():
        pytest.skip(f"no SmolLM2 model cache at {path} (python -m agents.model_cache --out {path})")
    return path


@pytest.fixture(scope="module")
def adapter(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rank-4 LoRA adapter with random (non-zero) weights, so it changes what the model says."""
    import torch
    from peft import LoraConfig, get_peft_model

    from agents.model_cache import load_model

    torch.manual_seed(0)
    model, _ = load_model(model_dir)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    out = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(str(out))
    assert (out / "adapter_model.safetensors").is_file()
    return out


def test_hf_runs_the_real_model_on_cases(model_dir: Path, adapter: Path) -> None:
    base_cfg = QualityBenchConfig(model_dir=model_dir, case_ids=CASES, max_new_tokens=24, threads=1)
    base = run_quality_bench("hf", "heldout", config=base_cfg)
    assert base["model"] == f"hf:{model_dir.name}" and base["weights"] is None and base["settings"]["greedy"]
    assert base["cases"] == 2 and base["generation_errors"] == 0
    for row in base["per_case"]:
        assert row["output"] and 0 < row["tokens"] <= 40  # the model wrote something, within the token budget
        assert all(0.0 <= row[m] <= 1.0 for m in METRICS)
        assert row["s_total"] == 0.0 or row["g_json"] == 1.0
    tuned = run_quality_bench("hf", "heldout", config=base_cfg.model_copy(update={"weights": adapter}))
    assert tuned["weights"] == str(adapter) and tuned["weights_version"].startswith(adapter.name + "@")
    assert [r["output"] for r in tuned["per_case"]] != [r["output"] for r in base["per_case"]]
