"""Training exports of the example dataset: chat JSONL for SFT, TRL conversational preference JSONL for DPO,
prompt JSONL for GRPO (`export_grpo.py`).

    sft:         {"messages": [...prompt..., {"role": "assistant", "content": output_json}],
                  "example_id": ..., "task_family": ...}
    preference:  {"prompt": [...prompt...], "chosen": [{"role": "assistant", "content": ...}],
                  "rejected": [{"role": "assistant", "content": ...}], "chosen_id": ..., "rejected_id": ...,
                  "task_family": ...}
    grpo:        {"prompt": [...prompt...], "example_ids": [...], "window_id": ..., "intent_id": ...,
                  "task_family": ...}

The prompt turns are the row's own (sink schema 3 stores the messages the example was synthesised from),
else the caller's `prompt_for(example)` (export_base.py). The preference form is the one TRL's DPOTrainer
takes as "conversational" (it applies the chat template to prompt, prompt+chosen and prompt+rejected);
extra keys (chosen_id, rejected_id, task_family) are ignored by its collator. A pair is exported only when
both examples exist, differ, have different outputs and get the same prompt; every skip is counted by
reason, and every example the filters leave out by filter.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from core.records import Example, Feedback, RecordError
from streaming.sinks.export_base import (
    ExportError,
    ExportFormat,
    ExportStats,
    Message,
    PromptFn,
    assistant,
    check_prompt,
    frame_paths,
    stored_prompt,
)
from streaming.sinks.export_grpo import GrpoFormat
from streaming.sinks.export_select import filtered_by
from streaming.sinks.exports_config import ExportConfig
from streaming.sinks.reader import iter_stored

__all__ = [  # the names callers import from here (the base moved to export_base.py)
    "ExportError",
    "ExportStats",
    "Message",
    "PromptFn",
    "check_prompt",
    "export_dataset",
    "export_examples",
    "frame_paths",
    "load_pairs",
    "stored_prompt",
]

log = logging.getLogger(__name__)


class SftFormat(ExportFormat):
    """One chat record per example: prompt turns, then the example's JSON as the assistant turn."""

    def records(self, examples: Mapping[str, Example], stats: ExportStats) -> Iterator[dict[str, Any]]:
        for example in examples.values():
            prompt = self.prompt(example, stats)
            if prompt is None:
                continue
            record = {
                "messages": prompt + assistant(example),
                "example_id": example.example_id,
                "task_family": example.task_family,
            }
            yield self.with_images(record, example)


class PreferenceFormat(ExportFormat):
    """One TRL conversational preference record per (chosen id, rejected id) pair sharing a prompt."""

    def __init__(
        self, prompt_for: PromptFn | None, pairs: Sequence[tuple[str, str]], include_images: bool = False
    ) -> None:
        super().__init__(prompt_for, include_images)
        self.pairs = pairs

    def records(self, examples: Mapping[str, Example], stats: ExportStats) -> Iterator[dict[str, Any]]:
        done: set[tuple[str, str]] = set()
        for chosen_id, rejected_id in self.pairs:
            reason = self.pair_problem(chosen_id, rejected_id, examples, done)
            if reason is not None:
                stats.skipped[reason] += 1
                continue
            done.add((chosen_id, rejected_id))
            chosen, rejected = examples[chosen_id], examples[rejected_id]
            prompt = self.prompt(chosen, stats)
            other = self.prompt(rejected, stats) if prompt is not None else None
            if prompt is None or other is None:
                continue
            if prompt != other:
                stats.skipped["prompt_mismatch"] += 1
                log.warning("pair %s > %s: the two examples have different prompts", chosen_id, rejected_id)
                continue
            record = {
                "prompt": prompt,
                "chosen": assistant(chosen),
                "rejected": assistant(rejected),
                "chosen_id": chosen_id,
                "rejected_id": rejected_id,
                "task_family": chosen.task_family,
            }
            yield self.with_images(record, chosen)

    @staticmethod
    def pair_problem(
        chosen_id: str, rejected_id: str, examples: Mapping[str, Example], done: set[tuple[str, str]]
    ) -> str | None:
        if chosen_id not in examples or rejected_id not in examples:
            return "unknown_example"
        if chosen_id == rejected_id:
            return "same_example"
        if (chosen_id, rejected_id) in done:
            return "duplicate_pair"
        if examples[chosen_id].output_json == examples[rejected_id].output_json:
            return "identical_outputs"
        return None


def pairs_from_feedback(feedback: Iterable[Feedback]) -> list[tuple[str, str]]:
    """(chosen, rejected) ids of the preference feedback records."""
    return [
        (f.chosen_id, f.rejected_id)
        for f in feedback
        if f.kind == "preference" and f.chosen_id is not None and f.rejected_id is not None
    ]


def load_pairs(path: Path, max_bytes: int) -> list[tuple[str, str]]:
    """Pairs from JSONL: Feedback records (kind 'preference') or {"chosen_id": ..., "rejected_id": ...}."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ExportError("pairs_file_too_large", f"{path} is {size} bytes > cap {max_bytes}")
    pairs: list[tuple[str, str]] = []
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise ExportError("invalid_json", f"{path}:{number} is not JSON") from None
            if not isinstance(obj, dict):
                raise ExportError("invalid_pair", f"{path}:{number} is not a JSON object")
            if "kind" in obj:
                try:
                    pairs.extend(pairs_from_feedback([Feedback.from_bytes(line)]))
                except RecordError as err:
                    raise ExportError(err.reason, f"{path}:{number}: {err.detail}") from None
                continue
            chosen, rejected = obj.get("chosen_id"), obj.get("rejected_id")
            if not isinstance(chosen, str) or not isinstance(rejected, str):
                raise ExportError("invalid_pair", f"{path}:{number} needs string chosen_id and rejected_id")
            pairs.append((chosen, rejected))
    return pairs


def export_examples(
    examples: Iterable[Example],
    prompt_for: PromptFn | None,
    fmt: str,
    out: Path,
    pairs: Sequence[tuple[str, str]] | None = None,
    include_images: bool = False,
    stats: ExportStats | None = None,
) -> ExportStats:
    """Export a list of examples (no Parquet dataset needed). `prompt_for` serves examples without a
    stored prompt (None: they are skipped as no_stored_prompt)."""
    exporter: ExportFormat
    if fmt == "sft":
        exporter = SftFormat(prompt_for, include_images)
    elif fmt == "grpo":
        exporter = GrpoFormat(prompt_for, include_images)
    elif fmt == "preference":
        if pairs is None:
            raise ExportError("no_pairs", "the preference format needs (chosen_id, rejected_id) pairs")
        exporter = PreferenceFormat(prompt_for, pairs, include_images)
    else:
        raise ExportError("unknown_format", f"format {fmt!r} is not 'sft', 'preference' or 'grpo'")
    return exporter.write(examples, out, stats)


def export_dataset(
    config: ExportConfig, prompt_for: PromptFn | None = None, pairs: Iterable[tuple[str, str]] | None = None
) -> ExportStats:
    """Entry point of `tailor export`: read the Parquet dataset, write the JSONL, return the counts.
    Reads nothing but the dataset (and the pairs file) unless a row without a stored prompt meets
    `prompt_for`."""
    if pairs is None and config.format == "preference":
        if config.pairs_file is None:
            raise ExportError("no_pairs", "the preference format needs pairs (pairs_file)")
        pairs = load_pairs(config.pairs_file, config.max_pairs_file_bytes)
    stats = ExportStats(out=config.out)
    frame_skips: Counter[str] = Counter()

    def selected() -> Iterator[Example]:
        for stored in iter_stored(config.dataset_dir, config.task_families):
            reason = filtered_by(stored.example, config)
            if reason is not None:
                stats.filtered[reason] += 1
                continue
            if config.skip_frame_errors and stored.frame_errors:
                frame_skips["frame_error"] += 1
                continue
            yield stored.example

    export_examples(
        selected(),
        prompt_for,
        config.format,
        config.out,
        pairs=None if pairs is None else list(pairs),
        include_images=config.include_images,
        stats=stats,
    )
    stats.skipped.update(frame_skips)
    return stats
