"""Fixtures of the learning-loop tests: real Bridge robot windows, candidate groups built from them, the real
SmolLM2-135M safetensors cache, and a tiny random llama (real SmolLM2 tokenizer) for mechanics-only tests."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents.anchoring_steps import RobotAnchoring
from agents.extractors.robot.pipeline import RobotExpertPipeline
from agents.model_cache import MANIFEST_NAME, Manifest, ModelCacheError, hash_folder, verify_manifest
from agents.tasks.base import SynthesisContext, TaskFamily, TaskSpec, registry
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import AnchorSet, Feedback
from tests.agents.tasks.helpers import BRIDGE, anchor_set, records
from trainer.evaluate import MarginBench
from trainer.evaluate_config import EvaluateConfig
from trainer.preferences import CandidateGroup, PreferencePair, build_group, build_pairs
from trainer.preferences_config import PreferencesConfig
from trainer.round import RoundResult, run_round
from trainer.round_config import RoundConfig
from trainer.store import ModelStore
from trainer.train_config import TrainConfig

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
SMOL = REPO / ".cache" / "models" / "SmolLM2-135M-Instruct"
FAMILY = "world_model_sample"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


@pytest.fixture(scope="session")
def smol_dir() -> Path:
    """The real SmolLM2-135M-Instruct safetensors cache (made by `make model`)."""
    if not (SMOL / MANIFEST_NAME).is_file():
        pytest.skip(f"no model cache at {SMOL}: run `make model`")
    try:
        verify_manifest(SMOL)
    except ModelCacheError as exc:
        pytest.skip(f"the model cache at {SMOL} does not verify: {exc}")
    return SMOL


@pytest.fixture(scope="session")
def bridge_windows(tmp_path_factory: pytest.TempPathFactory) -> list[AnchorSet]:
    """The first six real Bridge episodes as the anchor stage makes them (10 steps each)."""
    if not BRIDGE.is_file():
        pytest.skip(
            f"real Bridge data not found at {BRIDGE} (expected the shared data folder beside the repo)"
        )
    frames = BlobStore.for_dir(tmp_path_factory.mktemp("frames"))
    anchoring = RobotAnchoring(frames, LimitsConfig(), RobotExpertPipeline.default())
    episodes = list(records(BRIDGE, "robot").items())[:6]
    return [anchor_set(anchoring, frames, "robot", key, recs) for key, recs in episodes]


@pytest.fixture(scope="session")
def family() -> TaskFamily:
    return registry()[FAMILY]


def rule_text(family: TaskFamily, window: AnchorSet) -> str:
    out = family.rule_output(SynthesisContext(window, TaskSpec(family.name)))
    assert out is not None, f"{family.name} does not apply to {window.window_id}"
    return out.model_dump_json()


def shifted_text(family: TaskFamily, window: AnchorSet) -> str:
    """The rule output with its plan moved off the window's facts, to the segment frame farthest from any
    target anchor: valid JSON, a lower anchor reward (and rejected by the validators when that frame is on
    no anchor)."""
    ctx = SynthesisContext(window, TaskSpec(family.name))
    data = json.loads(rule_text(family, window))
    start, end = data["segment"]
    targets = family.anchor_targets(ctx)
    far = max(range(start, end + 1), key=lambda f: (min(abs(f - t) for t in targets), -f))
    data["motion_plan"] = [dict(p, frame=far) for p in data["motion_plan"]]
    return json.dumps(data)


PROSE = "The robot moves its arm around the kitchen and it looks nice."


def candidate_group(family: TaskFamily, window: AnchorSet) -> CandidateGroup:
    """Three candidates of one window, as a sampler might return them: the grounded answer, a worse one, prose."""
    ctx = SynthesisContext(window, TaskSpec(family.name, intent_id="intent-1"))
    return build_group(family, ctx, [rule_text(family, window), shifted_text(family, window), PROSE])


@pytest.fixture(scope="session")
def groups(family: TaskFamily, bridge_windows: list[AnchorSet]) -> list[CandidateGroup]:
    return [candidate_group(family, w) for w in bridge_windows if family.applies(w)]


@pytest.fixture(scope="session")
def tiny_model_dir(smol_dir: Path) -> Iterator[Path]:
    """A tiny randomly initialised llama (2 layers, hidden 32) with SmolLM2's real tokenizer, saved as a
    verified model-cache folder: for tests of mechanics only (its outputs mean nothing)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    out = Path(tempfile.mkdtemp(prefix="tiny-llama-"))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    AutoModelForCausalLM.from_config(config).save_pretrained(str(out), safe_serialization=True)
    for name in TOKENIZER_FILES:
        shutil.copy2(smol_dir / name, out / name)
    manifest = Manifest(
        model_name="tiny-llama",
        source_file="random",
        source_sha256="0" * 64,
        dtype="float32",
        transformers_version="test",
        files=hash_folder(out),
    )
    (out / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2))
    yield out
    shutil.rmtree(out, ignore_errors=True)


@dataclass
class PublishedRound:
    """A real DPO round on SmolLM2 (shared by the round and reload tests: it is the costly part)."""

    result: RoundResult
    store: ModelStore
    heldout: list[PreferencePair]


REAL_DPO = {"max_steps": 2, "gradient_accumulation_steps": 1, "max_length": 768, "learning_rate": 1e-3}
REAL_EVAL = EvaluateConfig(max_length=768, max_prompts=2)


@pytest.fixture(scope="session")
def dpo_round(
    smol_dir: Path, groups: list[CandidateGroup], tmp_path_factory: pytest.TempPathFactory
) -> PublishedRound:
    train_groups, heldout_groups = groups[:4], groups[4:]
    heldout = build_pairs(heldout_groups, config=PreferencesConfig(max_pairs_per_group=1)).pairs
    assert heldout, "the held-out windows give no pairs"
    good = train_groups[0].candidates[0]
    feedback = [
        Feedback(
            feedback_id="probe-1",
            kind="example_utility",
            example_ids=[good.candidate_id],
            utility=0.9,
            source="probe",
            created_at=1.0,
        ),
        Feedback(
            feedback_id="bad-1", kind="batch_metric", example_ids=[], metric="acc", value=0.5, created_at=1.0
        ),
    ]
    root = tmp_path_factory.mktemp("round")
    store = ModelStore(root / "store")
    config = RoundConfig(method="dpo", train=TrainConfig(trl_overrides=REAL_DPO), gate_margin=0.0)
    result = run_round(
        train_groups,
        feedback,
        base_model_dir=smol_dir,
        store=store,
        work_dir=root / "work",
        evaluate=MarginBench(heldout, REAL_EVAL),
        config=config,
    )
    return PublishedRound(result, store, heldout)
