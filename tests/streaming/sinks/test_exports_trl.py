"""The exported JSONL goes through TRL's dataset processing and one training step (tiny random llama, CPU)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import datasets
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

from core.blobstore import BlobStore
from core.records import Example, FrameRef
from streaming.sinks.exports import Message, export_dataset
from streaming.sinks.exports_config import ExportConfig
from streaming.sinks.parquet_sink import ParquetSink
from streaming.sinks.parquet_sink_config import ParquetSinkConfig
from tests.streaming.sinks.sink_helpers import make_example

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def prompt_for(example: Example) -> list[Message]:
    return [
        {"role": "system", "content": "Answer with JSON."},
        {"role": "user", "content": f"Window {example.window_id}: next action?"},
    ]


def tiny_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on the export itself, with a ChatML template (no download needed)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<unk>", "<|im_start|>", "<|im_end|>", "<pad>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        bos_token="<|im_start|>",
    )
    fast.chat_template = CHATML
    return fast


def tiny_llama(tok: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
    )
    return LlamaForCausalLM(cfg)


@pytest.fixture
def exported(tmp_path: Path, frame_store: BlobStore, frame_refs: list[FrameRef]) -> dict[str, Path]:
    examples = []
    for w in range(2):
        for c in range(2):
            ex = make_example(10 * w + c, "gui_next_action", frame_refs[:1], answer=f"tap {w}-{c}")
            examples.append(ex.model_copy(update={"window_id": f"gui:episode-{w}:0"}))
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path / "ds", writer_id="w1"), frame_store).open()
    sink.add(examples)
    sink.flush()
    out = {"sft": tmp_path / "sft.jsonl", "preference": tmp_path / "pref.jsonl"}
    a0, a1, b0, b1 = (f"gui_next_action-{n:04d}" for n in (0, 1, 10, 11))
    pairs = [(a1, a0), (b0, b1)]
    for fmt, path in out.items():
        config = ExportConfig(dataset_dir=tmp_path / "ds", out=path, format=fmt)  # type: ignore[arg-type]
        stats = export_dataset(config, prompt_for, pairs if fmt == "preference" else None)
        assert stats.written == (4 if fmt == "sft" else 2)
    return out


def load(path: Path, cache: str) -> datasets.Dataset:
    ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=cache)
    assert isinstance(ds, datasets.Dataset)
    return ds


def texts(ds: datasets.Dataset) -> list[str]:
    return [json.dumps(row) for row in ds]


def test_dpo_trainer_tokenizes_and_trains_on_the_preference_export(
    exported: dict[str, Path], tmp_path: Path, hf_cache: str
) -> None:
    ds = load(exported["preference"], hf_cache)
    tok = tiny_tokenizer(texts(ds))
    torch.manual_seed(0)
    args = DPOConfig(
        output_dir=str(tmp_path / "dpo"),
        max_steps=1,
        per_device_train_batch_size=2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
    )
    trainer = DPOTrainer(
        model=tiny_llama(tok), ref_model=tiny_llama(tok), args=args, train_dataset=ds, processing_class=tok
    )
    assert isinstance(trainer.train_dataset, datasets.Dataset)
    first: dict[str, Any] = trainer.train_dataset[0]
    rendered = str(tok.decode(first["prompt_ids"] + first["chosen_ids"]))
    assert rendered.startswith("<|im_start|>system\nAnswer with JSON.<|im_end|>")
    assert '"answer": "tap 0-1"' in tok.decode(first["chosen_ids"])
    assert '"answer": "tap 0-0"' in tok.decode(first["rejected_ids"])
    assert math.isfinite(trainer.train().training_loss)


def test_sft_trainer_tokenizes_and_trains_on_the_sft_export(
    exported: dict[str, Path], tmp_path: Path, hf_cache: str
) -> None:
    ds = load(exported["sft"], hf_cache)
    tok = tiny_tokenizer(texts(ds))
    args = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        max_steps=1,
        per_device_train_batch_size=2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
    )
    trainer = SFTTrainer(model=tiny_llama(tok), args=args, train_dataset=ds, processing_class=tok)
    assert isinstance(trainer.train_dataset, datasets.Dataset)
    ids = trainer.train_dataset[0]["input_ids"]
    assert "<|im_start|>assistant\n{" in tok.decode(ids)
    assert math.isfinite(trainer.train().training_loss)
