"""Feedback tools against the real broker: `tailor feedback` sends records the trainer's intake reads and
its feedback readers accept; malformed feedback is refused with one line and nothing is sent; a real short
TRL fine-tune (SFTTrainer, a tiny random llama with SmolLM2's real tokenizer) on examples exported from a
sink-written dataset reports its eval metrics and each batch's training loss through `TailorFeedbackCallback`,
naming the examples (the eval set's; the batch's)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agents.anchoring_steps import RobotAnchoring
from agents.extractors.robot.pipeline import RobotExpertPipeline
from agents.synthesis.base import Generation
from agents.synthesis_step import judge
from agents.tasks.base import SynthesisContext, TaskSpec, registry
from app.trainer_service import read_feedback
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import Feedback
from streaming.feedback_batches import BatchIds
from streaming.feedback_callback import ID_COLUMNS, TailorFeedbackCallback, dataset_example_ids
from streaming.feedback_publish import FeedbackSender
from streaming.settings import TailorSettings
from streaming.sinks.exports import export_dataset
from streaming.sinks.exports_config import ExportConfig
from streaming.sinks.parquet_sink import ParquetSink
from streaming.sinks.parquet_sink_config import ParquetSinkConfig
from tests.agents.tasks.helpers import BRIDGE, anchor_set, need, records
from tests.conftest import settings_env
from tests.kafka_helpers import consume
from trainer.feedback import FeedbackLedger

REPO = Path(__file__).resolve().parents[2]
SMOL = REPO / ".cache" / "models" / "SmolLM2-135M-Instruct"


def tailor(settings: TailorSettings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = settings_env(settings) | {"PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "app.cli", "feedback", *args]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def accepted_by_the_trainer(settings: TailorSettings, count: int) -> list[Feedback]:
    """The records as the trainer service reads them (malformed ones would be dead-lettered), and its
    ledger's verdict on them (no refusal)."""
    assert len(consume(settings, settings.topic_feedback, count=count, timeout_s=30)) == count
    got = read_feedback(settings)
    assert len(got) == count
    assert FeedbackLedger().add_all(got) == []
    return got


def test_the_cli_sends_what_the_trainer_accepts_and_refuses_malformed_feedback(
    settings: TailorSettings, tmp_path: Path
) -> None:
    proc = tailor(settings, tmp_path, "metric", "eval_loss", "0.42", "ex-1", "ex-2", "--source", "team-a")
    assert proc.returncode == 0, proc.stderr
    lines = tmp_path / "fb.jsonl"
    lines.write_text(
        json.dumps({"kind": "example_utility", "utility": 0.9, "example_ids": ["ex-3"]})
        + "\n\n"
        + json.dumps({"kind": "preference", "chosen_id": "ex-1", "rejected_id": "ex-2"})
        + "\n"
    )
    proc = tailor(settings, tmp_path, "file", str(lines), "--source", "labeller")
    assert proc.returncode == 0 and "sent 2 feedback records" in proc.stdout, proc.stderr
    got = {fb.kind: fb for fb in accepted_by_the_trainer(settings, 3)}
    metric = got["batch_metric"]
    assert (metric.metric, metric.value, metric.example_ids, metric.source) == (
        "eval_loss",
        0.42,
        ["ex-1", "ex-2"],
        "team-a",
    )
    assert got["example_utility"].utility == 0.9 and got["example_utility"].source == "labeller"
    assert (got["preference"].chosen_id, got["preference"].rejected_id) == ("ex-1", "ex-2")

    # malformed: refused with the reader's reason, exit 1, nothing of the file sent
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"kind": "example_utility", "utility": 0.5, "example_ids": ["ex-9"]})
        + "\n"
        + json.dumps({"kind": "batch_metric", "value": 1.0, "example_ids": ["ex-9"]})  # no metric name
        + "\n"
    )
    cases = [
        (("file", str(bad)), "missing_metric"),
        (("prefer", "ex-1", "ex-1"), "self_preference"),
        (("utility", "nan", "ex-1"), "utility: Input should be a finite number"),
    ]
    for args, said in cases:
        proc = tailor(settings, tmp_path, *args)
        assert proc.returncode == 1 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(consume(settings, settings.topic_feedback, idle_s=2)) == 3  # still the first three
    assert consume(settings, settings.topic_dlq, timeout_s=3) == []  # and none of them was malformed


def test_a_trl_fine_tune_reports_its_eval_metrics_and_batch_losses_with_the_example_ids(
    settings: TailorSettings, tmp_path: Path
) -> None:
    need(BRIDGE)
    if not (SMOL / "tokenizer.json").is_file():
        pytest.skip(f"no SmolLM2 tokenizer at {SMOL}: run `make model`")
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig
    from trl import SFTConfig, SFTTrainer

    # examples through the real sink, exported for SFT from the Parquet alone
    frames = BlobStore.for_dir(tmp_path / "frames")
    robot = RobotAnchoring(frames, LimitsConfig(), RobotExpertPipeline.default())
    family = registry()["world_model_sample"]
    examples = []
    for key, recs in list(records(BRIDGE, "robot").items())[:4]:
        ctx = SynthesisContext(anchor_set(robot, frames, "robot", key, recs), TaskSpec(family.name, "i-1"))
        rule = family.rule_output(ctx)
        assert rule is not None
        examples += judge(family, ctx, Generation(texts=[rule.model_dump_json()], model="rules")).accepted
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path / "ds", writer_id="w1"), frames).open()
    sink.add(examples)
    sink.flush()
    out = tmp_path / "sft.jsonl"
    assert export_dataset(ExportConfig(dataset_dir=tmp_path / "ds", out=out, format="sft")).written == 4
    data = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf"))

    tokenizer_dir = tmp_path / "tok"
    tokenizer_dir.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy2(SMOL / name, tokenizer_dir / name)
    torch.manual_seed(0)
    tiny = LlamaConfig(
        vocab_size=49152,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    sender = FeedbackSender(settings)
    callback = TailorFeedbackCallback.from_dataset(data, send=sender.send, source="sft-job", run="run-1")
    args = SFTConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=1,  # one example a step: each logged loss names one example
        per_device_eval_batch_size=4,
        eval_strategy="steps",
        eval_steps=2,
        max_length=128,  # cheap: loss over the first tokens (the mechanics are the point, not the model)
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        logging_steps=1,
        remove_unused_columns=False,  # the ids reach the collator; the callback strips them there
    )
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_config(tiny),
        args=args,
        train_dataset=data.select(range(2)),
        eval_dataset=data,
        processing_class=AutoTokenizer.from_pretrained(str(tokenizer_dir)),
        callbacks=[callback],
    )
    try:
        trainer.train()
    finally:
        sender.close()
    assert callback.sent >= 3 and callback.failed == 0
    got = accepted_by_the_trainer(settings, callback.sent)
    by_metric = {fb.metric: fb for fb in got}
    assert "eval_loss" in by_metric and "eval_runtime" not in by_metric
    loss = by_metric["eval_loss"]
    assert loss.kind == "batch_metric" and loss.source == "sft-job" and loss.value is not None
    assert sorted(loss.example_ids) == sorted(e.example_id for e in examples)
    assert loss.value > 0  # a random model's cross-entropy

    # per-batch training losses, each naming the one example its batch held (both trained, once each)
    train = [fb for fb in got if fb.metric == "loss"]
    assert len(train) == 2 and all(len(fb.example_ids) == 1 for fb in train)
    assert sorted(fb.example_ids[0] for fb in train) == sorted(data.select(range(2))["example_id"])
    assert all(fb.value is not None and fb.value > 0 for fb in train)


def test_the_callback_reads_the_ids_of_every_export_format() -> None:
    sft = [{"messages": [], "example_id": "a"}, {"messages": [], "example_id": "b"}]
    preference = [{"chosen_id": "a", "rejected_id": "b"}, {"chosen_id": "c", "rejected_id": "a"}]
    grpo = [{"prompt": [], "example_ids": ["b", "c"]}, {"prompt": [], "example_ids": ["a"]}]
    assert dataset_example_ids(sft) == ["a", "b"]
    assert dataset_example_ids(preference) == ["a", "b", "c"]
    assert dataset_example_ids(grpo) == ["b", "c", "a"]
    with pytest.raises(ValueError, match="no example ids"):
        TailorFeedbackCallback.from_dataset([{"messages": []}], send=print)


def test_batch_ids_are_stripped_at_collation_and_credited_as_batches_are_trained() -> None:
    """A loader collating ahead (as accelerate's does) still credits each trained batch with its own ids;
    the rows the inner collator gets carry no id column."""
    from torch.utils.data import DataLoader

    rows = [{"x": n, "example_id": f"e{n}"} for n in range(5)] + [{"x": 9, "example_ids": ["g1", "e0"]}]
    seen: list[list[dict[str, object]]] = []
    loader = DataLoader(rows, batch_size=2, collate_fn=lambda b: seen.append(b) or [r["x"] for r in b])  # type: ignore[func-returns-value]
    batches = BatchIds(ID_COLUMNS)
    batches.install(loader, num_workers=0)
    it = iter(loader)
    assert next(it) == [0, 1] and next(it) == [2, 3]  # two collated before any is trained
    assert all(set(r) == {"x"} for b in seen for r in b)
    batches.trained()
    assert batches.take() == ["e0", "e1"]
    batches.trained()  # a gradient-accumulation step: two micro-batches
    assert next(it) == [4, 9]
    batches.trained()
    assert batches.take() == ["e2", "e3", "e4", "g1", "e0"]
    assert batches.take() == []
    workers = BatchIds(ID_COLUMNS)
    workers.install(DataLoader(rows), num_workers=2)
    assert workers.problem is not None and "dataloader_num_workers" in workers.problem
