"""The supervised warm start: TRL `SFTTrainer` with LoRA on validated examples.

A round of preference RL from the base model learns little: its candidates rarely pass the validators, so
groups have no valid side to prefer. The warm start first teaches the output the synthesis step asks for:
each row is the synthesis prompt of a window (`TaskFamily.prompt`, the exact chat messages the backends
send) and, as the completion, a validated output written as the compact JSON the constrained decoder
produces (the window schema's key order, no spaces between tokens), so the model learns what it will be
asked to write, not a re-styled variant of it. Loss is on the completion only (TRL's prompt-completion
format).

Rows come from `SftSource`s: accepted examples of the stream (the rules backend's included, as a teacher)
and the benchmark's dev-split references (the caller reads them; the trainer does not import `bench`).
Every row is parsed and validated again against its window; rows from a heldout recording are refused
(`trainer.heldout`), so the gate never scores what was trained on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.synthesis.base import WindowImage
from agents.tasks.base import ParseError, SynthesisContext, TaskFamily
from trainer.heldout import HeldoutRecordings
from trainer.train_base import TrainError, TrainResult, TrainRun
from trainer.train_config import TrainConfig
from trainer.vision_rows import vision_row

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

log = logging.getLogger(__name__)

Message = dict[str, Any]


@dataclass(frozen=True)
class SftSource:
    """One candidate row before checking: where it comes from, its window and its output text."""

    source_id: str  # an example id, or `case:<case id>` for a benchmark reference
    family: TaskFamily
    ctx: SynthesisContext
    text: str  # JSON in the family's schema (a raw output or a reference)
    origin: str = "stream"  # stream | rules | reference
    images: tuple[WindowImage, ...] = ()  # the window's key frames, for a base model that takes images


@dataclass(frozen=True)
class SftRow:
    source_id: str
    family: str
    prompt: list[Message]
    completion: str
    images: tuple[bytes, ...] = ()  # PNG key frames in time order, shown as the workers show them
    image_frames: tuple[int, ...] = ()

    def to_trl(self) -> dict[str, Any]:
        if not self.images:
            return {"prompt": self.prompt, "completion": [{"role": "assistant", "content": self.completion}]}
        return vision_row(
            self.prompt,
            {"completion": [{"role": "assistant", "content": [{"type": "text", "text": self.completion}]}]},
            self.images,
            self.image_frames,
        )


@dataclass
class SftData:
    rows: list[SftRow] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)  # reason → count
    by_origin: Counter[str] = field(default_factory=Counter)


def decoded_form(family: TaskFamily, ctx: SynthesisContext, output: Any) -> str:
    """The output as the constrained decoder writes it: compact JSON, keys in the window schema's order."""
    data = output.model_dump(mode="json")
    schema = family.window_schema(ctx) or {}
    order = list(schema.get("properties", {})) or list(data)
    ordered = {k: data[k] for k in order if k in data} | {k: v for k, v in data.items() if k not in order}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)


def build_sft_data(
    sources: Iterable[SftSource], heldout: HeldoutRecordings | None, max_per_window: int = 2
) -> SftData:
    """Rows from sources that parse and pass every validator of their window, none from a heldout recording.

    A row whose window or any distractor window comes from a heldout recording is dropped. Identical
    completions for one prompt are kept once; at most `max_per_window` rows per prompt (so that a
    window replayed many times does not dominate the data)."""
    data = SftData()
    seen: set[tuple[str, str]] = set()
    per_prompt: Counter[str] = Counter()
    for src in sources:
        if heldout is not None and any(heldout.holds(a) for a in (src.ctx.anchors, *src.ctx.distractors)):
            data.dropped["heldout_recording"] += 1
            continue
        try:
            output = src.family.parse(src.text)
        except ParseError as exc:
            data.dropped[exc.reason] += 1
            continue
        if src.family.validate(src.ctx, output):
            data.dropped["invalid"] += 1
            continue
        prompt = src.family.chat_messages(src.ctx)
        shown = sorted(src.images, key=lambda i: i.frame_index)
        pixels = [hashlib.sha256(i.data).hexdigest() for i in shown]
        key = hashlib.sha256(json.dumps([prompt, pixels], sort_keys=True).encode()).hexdigest()
        completion = decoded_form(src.family, src.ctx, output)
        if (key, completion) in seen:
            data.dropped["duplicate"] += 1
            continue
        if per_prompt[key] >= max_per_window:
            data.dropped["window_full"] += 1
            continue
        seen.add((key, completion))
        per_prompt[key] += 1
        data.rows.append(
            SftRow(
                src.source_id,
                src.family.name,
                prompt,
                completion,
                tuple(i.data for i in shown),
                tuple(i.frame_index for i in shown),
            )
        )
        data.by_origin[src.origin] += 1
    return data


class SftRun(TrainRun):
    method = "sft"
    tracked = ("mean_token_accuracy", "entropy")

    def trl_config_class(self) -> type[Any]:
        from trl import SFTConfig

        return SFTConfig

    def make_trainer(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        args: Any,
        dataset: Dataset,
        peft_config: Any,
        base_model_dir: Path,
    ) -> Trainer:
        from trl import SFTTrainer

        return SFTTrainer(
            model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config
        )


def sft_dataset(rows: Sequence[SftRow]) -> Dataset:
    from datasets import Dataset

    return Dataset.from_list([r.to_trl() for r in rows])


def run_sft(
    base_model_dir: Path,
    rows: Sequence[SftRow],
    config: TrainConfig | None,
    out_dir: Path,
    init_adapter: Path | None = None,
) -> TrainResult:
    """Train the warm start on `rows`; the weights go to `out_dir/adapter` (safetensors only)."""
    cfg = config or TrainConfig()
    if not rows:
        raise TrainError("no_data", "SFT needs at least one validated example")
    used = list(rows)[: cfg.max_items]
    if len(used) < len(rows):
        log.warning("SFT: using %d of %d rows (max_items)", len(used), len(rows))
    return SftRun(cfg).run(
        Path(base_model_dir), sft_dataset(used), [r.source_id for r in used], Path(out_dir), init_adapter
    )
