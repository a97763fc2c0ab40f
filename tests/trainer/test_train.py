"""Training mechanics with real TRL on a tiny random llama (real SmolLM2 tokenizer, real Bridge prompts):
DPO and GRPO write safetensors-only adapters that changed, continuation, full fine-tune, bad configs.
The real-model rounds are in test_round.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.trainer.conftest import PROSE
from trainer.dpo import run_dpo
from trainer.grpo import RuleReward, rule_reward, run_grpo
from trainer.preferences import CandidateGroup, build_pairs, grpo_prompts
from trainer.train_base import TrainError
from trainer.train_config import LoraSettings, TrainConfig
from trainer.weights import ADAPTER_CONFIG, ADAPTER_WEIGHTS

FAST = {"max_steps": 2, "gradient_accumulation_steps": 1, "max_length": 1024, "learning_rate": 1e-2}


def lora_tensors(adapter_dir: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return dict(load_file(str(adapter_dir / ADAPTER_WEIGHTS)))


def b_norm(adapter_dir: Path) -> float:
    import torch

    return float(
        sum(
            torch.linalg.vector_norm(t.float()) for k, t in lora_tensors(adapter_dir).items() if "lora_B" in k
        )
    )


def test_dpo_writes_a_trained_safetensors_adapter_and_continues_it(
    tiny_model_dir: Path, groups: list[CandidateGroup], tmp_path: Path
) -> None:
    pairs = build_pairs(groups[:2]).pairs
    cfg = TrainConfig(trl_overrides=FAST, lora=LoraSettings(rank=4))
    result = run_dpo(tiny_model_dir, pairs, cfg, tmp_path / "r1")
    assert result.method == "dpo" and result.kind == "lora" and result.steps == 2
    assert sorted(p.name for p in result.adapter_dir.iterdir()) == [ADAPTER_CONFIG, ADAPTER_WEIGHTS]
    config = json.loads((result.adapter_dir / ADAPTER_CONFIG).read_text())
    assert config["r"] == 4 and set(config["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert b_norm(result.adapter_dir) > 0  # LoRA B starts at zero: it moved, so training happened
    assert result.loss_start == pytest.approx(0.6931, abs=1e-3)  # DPO starts at log 2 (policy = reference)
    assert result.loss_end is not None and result.seconds > 0
    assert result.trained_on == list(dict.fromkeys(i for p in pairs for i in (p.chosen_id, p.rejected_id)))
    assert "rewards_margins_end" in result.metrics
    assert not (tmp_path / "r1" / "trl").exists()  # no checkpoints or pickled training args left behind

    one_step = cfg.model_copy(update={"trl_overrides": {**FAST, "max_steps": 1}})
    second = run_dpo(tiny_model_dir, pairs, one_step, tmp_path / "r2", init_adapter=result.adapter_dir)
    before, after = lora_tensors(result.adapter_dir), lora_tensors(second.adapter_dir)
    assert before.keys() == after.keys()  # the same adapter, trained further (TRL's "ref" copy is not saved)
    assert any(not bool((before[k] == after[k]).all()) for k in before)
    assert sorted(p.name for p in second.adapter_dir.iterdir()) == [ADAPTER_CONFIG, ADAPTER_WEIGHTS]
    with pytest.raises(TrainError) as err:
        run_dpo(tiny_model_dir, pairs, one_step, tmp_path / "r2")
    assert err.value.reason == "output_exists"


def test_full_finetune_saves_a_verified_model_folder(
    tiny_model_dir: Path, groups: list[CandidateGroup], tmp_path: Path
) -> None:
    from agents.model_cache import load_model, verify_manifest

    pairs = build_pairs(groups[:1]).pairs
    cfg = TrainConfig(trl_overrides={**FAST, "max_steps": 1}, full_finetune=True)
    result = run_dpo(tiny_model_dir, pairs, cfg, tmp_path)
    assert result.kind == "full"
    names = {p.name for p in result.adapter_dir.iterdir()}
    assert {"model.safetensors", "config.json", "manifest.json", "tokenizer.json"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]
    verify_manifest(result.adapter_dir)
    model, _ = load_model(result.adapter_dir)
    base, _ = load_model(tiny_model_dir)
    moved = [
        n
        for (n, p), (_, q) in zip(model.named_parameters(), base.named_parameters())
        if not bool((p == q).all())
    ]
    assert moved  # weights of the base model changed


def test_grpo_runs_the_rule_reward_on_real_completions(
    tiny_model_dir: Path, groups: list[CandidateGroup], tmp_path: Path
) -> None:
    prompts = grpo_prompts(groups[:2])
    history: list[dict[str, float]] = []
    cfg = TrainConfig(
        lora=LoraSettings(rank=4),
        trl_overrides={
            "max_steps": 1,
            "per_device_train_batch_size": 2,
            "num_generations": 2,
            "max_completion_length": 16,
        },
    )
    result = run_grpo(tiny_model_dir, prompts, rule_reward(prompts, history=history), cfg, tmp_path)
    assert result.method == "grpo" and result.steps == 1
    assert sorted(p.name for p in result.adapter_dir.iterdir()) == [ADAPTER_CONFIG, ADAPTER_WEIGHTS]
    assert len(history) == 1  # one reward call per generation batch (1 prompt x 2 completions)
    assert all(h["r_format"] == 0.0 for h in history)  # 16 random tokens never parse as the schema
    # an output that does not parse is invalid: R_base 0 minus the full weight 2 (below every valid output)
    assert result.metrics["reward_start"] == -2.0
    assert result.trained_on == [i for p in prompts for i in p.candidate_ids]


def test_rule_reward_scores_completions_with_their_rows_context(groups: list[CandidateGroup]) -> None:
    prompts = grpo_prompts(groups[:2])
    reward = rule_reward(prompts)
    g0, g1 = groups[0], groups[1]
    completions = [
        [{"role": "assistant", "content": g0.candidates[0].text}],
        [{"role": "assistant", "content": PROSE}],
        [{"role": "assistant", "content": g1.candidates[0].text}],
        g0.candidates[0].text,
    ]
    rows = [prompts[0].row_id, prompts[0].row_id, prompts[1].row_id, prompts[1].row_id]
    out = reward(prompts=[p.prompt for p in prompts], completions=completions, row_id=rows)
    assert out[0] == pytest.approx(2.0)  # the window's own grounded answer: full format, anchor, efficiency
    assert out[1] == -2.0  # prose does not parse: invalid, R_base 0 minus the full weight
    assert out[2] == pytest.approx(2.0)
    assert out[3] < out[2]  # window 0's answer is scored against window 1's anchors: worse
    with pytest.raises(KeyError):
        reward(prompts=[], completions=[PROSE], row_id=["nope"])
    assert isinstance(reward, RuleReward) and reward.__name__ == "rule_reward"


def test_bad_inputs_and_configs_are_refused(
    tiny_model_dir: Path, groups: list[CandidateGroup], tmp_path: Path
) -> None:
    pairs = build_pairs(groups[:1]).pairs
    with pytest.raises(TrainError) as err:
        run_dpo(tiny_model_dir, [], None, tmp_path / "a")
    assert err.value.reason == "no_data"
    with pytest.raises(TrainError) as err:
        run_dpo(tiny_model_dir, pairs, TrainConfig(trl_overrides={"no_such_argument": 1}), tmp_path / "b")
    assert err.value.reason == "bad_trl_config"
    bad_file = tmp_path / "dpo.json"
    bad_file.write_text("[1, 2]")
    with pytest.raises(TrainError) as err:
        run_dpo(tiny_model_dir, pairs, TrainConfig(trl_file=bad_file), tmp_path / "c")
    assert err.value.reason == "bad_trl_config"
    with pytest.raises(TrainError) as err:
        run_dpo(tmp_path, pairs, TrainConfig(trl_overrides=FAST), tmp_path / "d")  # no model there
    assert err.value.reason == "bad_base_model"
    with pytest.raises(ValidationError):
        LoraSettings(rank=32)  # vLLM serves ranks up to 16


def test_packaged_trl_files_load_into_the_trl_configs(tmp_path: Path) -> None:
    from trl import DPOConfig, GRPOConfig

    from trainer.train_base import load_trl_args
    from trainer.train_config import CONFIG_DIR

    dpo = load_trl_args(DPOConfig, CONFIG_DIR / "dpo.json", {}, tmp_path / "d", 1 << 20)
    grpo = load_trl_args(GRPOConfig, CONFIG_DIR / "grpo.json", {"max_steps": 3}, tmp_path / "g", 1 << 20)
    assert isinstance(dpo, DPOConfig) and dpo.beta == 0.1 and dpo.save_strategy == "no" and not dpo.bf16
    assert isinstance(grpo, GRPOConfig) and grpo.max_steps == 3 and grpo.num_generations == 4
    assert dpo.output_dir == str(tmp_path / "d") and dpo.report_to == []
    with pytest.raises(TrainError) as err:
        load_trl_args(DPOConfig, CONFIG_DIR / "dpo.json", {}, tmp_path, 10)  # over the size cap
    assert err.value.reason == "bad_trl_config"


@pytest.mark.slow
def test_grpo_rollouts_under_the_window_constraint_give_informative_rewards(
    smol_dir: Path, groups: list[CandidateGroup], tmp_path: Path
) -> None:
    """The real base model, sampled as the workers sample it (each window's constraint): its completions
    parse, so the rule rewards differ from the invalid floor and GRPO has advantages to learn from (freely
    sampled, every completion of the base model scored -2.0 and every advantage was 0)."""
    prompts = grpo_prompts(groups[:1])
    history: list[dict[str, float]] = []
    cfg = TrainConfig(
        lora=LoraSettings(rank=4),
        trl_overrides={
            "max_steps": 1,
            "per_device_train_batch_size": 2,
            "num_generations": 2,
            "max_completion_length": 160,
        },
    )
    result = run_grpo(smol_dir, prompts, rule_reward(prompts, history=history), cfg, tmp_path)
    assert result.steps == 1 and len(history) == 1
    assert history[0]["r_format"] > 0  # completions that parse as the family's schema
    assert result.metrics["reward_start"] > -2.0
