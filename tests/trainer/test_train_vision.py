"""Training with images (issue 15): SFT rows and DPO pairs whose prompts hold a window's key frames train a
LoRA on the tiny VLM through TRL's vision-language path; the adapter touches the text model only (what vLLM
serves), and the pixels reach the loss (the same data without its images trains other weights)."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file

from agents.synthesis.frames import load_images
from agents.tasks.base import SynthesisContext, TaskSpec
from agents.tasks.catalog import families
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from tests.agents.synthesis.test_frames import with_frames
from tests.agents.test_tiny_vlm import frames, smol_dir, tiny_vlm_dir  # noqa: F401 - fixtures
from tests.streaming.test_stage_failures import INTENT, anchor_set
from trainer.dpo import run_dpo
from trainer.preferences import PreferencePair
from trainer.sft import SftSource, build_sft_data, run_sft
from trainer.train_config import TrainConfig

STEPS = {"max_steps": 2, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "seed": 0}


def sources(store: BlobStore, shots: list[bytes], with_images: bool) -> list[SftSource]:
    family = next(f for f in families() if f.name == "next_subtask")
    out = []
    for n in range(4):
        window = anchor_set(f"ep-{n}").model_copy(update={"instruction": f"put carrot {n} on the plate"})
        anchors = with_frames(window, store, [shots[n % 2], shots[(n + 1) % 2]], [0, 3])
        ctx = SynthesisContext(anchors, TaskSpec(family.name, intent_id="i-1", text=INTENT))
        rule = family.rule_output(ctx)
        assert rule is not None
        images = load_images(anchors, store, 2, 64, LimitsConfig()) if with_images else ()
        out.append(SftSource(f"ex-{n}", family, ctx, rule.model_dump_json(), "rules", images))
    return out


def test_sft_rows_with_key_frames_train_the_text_model_of_a_vlm(
    tiny_vlm_dir: Path,  # noqa: F811
    frames: list[bytes],  # noqa: F811
    tmp_path: Path,
) -> None:
    store = BlobStore.for_dir(tmp_path / "frames")
    seeing = build_sft_data(sources(store, frames, True), None)
    blind = build_sft_data(sources(store, frames, False), None)
    assert len(seeing.rows) == len(blind.rows) == 4
    assert all(r.image_frames == (0, 3) and len(r.images) == 2 for r in seeing.rows)
    row = seeing.rows[0].to_trl()
    assert len(row["images"]) == 2
    assert [p for p in row["prompt"][-1]["content"] if p["type"] == "image"] == [{"type": "image"}] * 2

    config = TrainConfig(trl_overrides=STEPS)
    with_pixels = run_sft(tiny_vlm_dir, seeing.rows, config, tmp_path / "seeing")
    without = run_sft(tiny_vlm_dir, blind.rows, config, tmp_path / "blind")
    assert with_pixels.steps == without.steps == 2

    adapter = json.loads((with_pixels.adapter_dir / "adapter_config.json").read_text())
    assert "text_model" in str(adapter["target_modules"])
    a = load_file(str(with_pixels.adapter_dir / "adapter_model.safetensors"))
    b = load_file(str(without.adapter_dir / "adapter_model.safetensors"))
    assert a and all("text_model" in k and "vision" not in k for k in a)
    assert a.keys() == b.keys()
    # same rows, seeds and steps: only the pixels differ, so the trained weights differ
    assert any(not a[k].equal(b[k]) for k in a)


def test_dpo_pairs_with_key_frames_train_the_text_model_of_a_vlm(
    tiny_vlm_dir: Path,  # noqa: F811
    frames: list[bytes],  # noqa: F811
    tmp_path: Path,
) -> None:
    store = BlobStore.for_dir(tmp_path / "frames")
    pairs: dict[bool, list[PreferencePair]] = {True: [], False: []}
    for seeing in (True, False):
        for src in sources(store, frames, seeing):
            shown = sorted(src.images, key=lambda i: i.frame_index)
            pairs[seeing].append(
                PreferencePair(
                    src.source_id,
                    src.family.name,
                    src.family.chat_messages(src.ctx),
                    f"{src.source_id}-good",
                    f"{src.source_id}-bad",
                    src.text,
                    src.text.replace("carry", "drop"),
                    "reward",
                    1.0,
                    tuple(i.data for i in shown),
                    tuple(i.frame_index for i in shown),
                )
            )
    assert all(p.chosen != p.rejected for p in pairs[True])
    row = pairs[True][0].to_trl()
    assert len(row["images"]) == 2 and row["chosen_id"] == "ex-0-good"
    config = TrainConfig(trl_overrides=STEPS)
    with_pixels = run_dpo(tiny_vlm_dir, pairs[True], config, tmp_path / "seeing")
    without = run_dpo(tiny_vlm_dir, pairs[False], config, tmp_path / "blind")
    a = load_file(str(with_pixels.adapter_dir / "adapter_model.safetensors"))
    b = load_file(str(without.adapter_dir / "adapter_model.safetensors"))
    assert a and all("text_model" in k and "vision" not in k for k in a)
    assert any(not a[k].equal(b[k]) for k in a)
