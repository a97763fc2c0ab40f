"""Training exports of the example dataset: chat JSONL for SFT, TRL conversational preference JSONL for DPO.

    sft:         {"messages": [...prompt..., {"role": "assistant", "content": output_json}],
                  "example_id": ..., "task_family": ...}
    preference:  {"prompt": [...prompt...], "chosen": [{"role": "assistant", "content": ...}],
                  "rejected": [{"role": "assistant", "content": ...}], "chosen_id": ..., "rejected_id": ...,
                  "task_family": ...}

The prompt turns come from the caller's `prompt_for(example)` (prompts are built elsewhere). The
preference form is the one TRL's DPOTrainer takes as "conversational" (it applies the chat template to
prompt, prompt+chosen and prompt+rejected); extra keys are ignored by its collator. A pair is exported
only when both examples exist, differ, have different outputs and get the same prompt; every skip is
counted by reason.
"""

from __future__ import annotations

import json
import logging
import os
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from core.errors import TailorError
from core.records import Example, Feedback, RecordError
from streaming.sinks.exports_config import ExportConfig
from streaming.sinks.reader import iter_stored

log = logging.getLogger(__name__)

Message = dict[str, Any]
PromptFn = Callable[[Example], list[Message]]
_PROMPT_ROLES = {"system", "user", "assistant"}


class ExportError(TailorError, ValueError):
    """An export that cannot be made; `reason` is a short label."""


@dataclass
class ExportStats:
    out: Path
    written: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def frame_paths(example: Example) -> list[str]:
    """Key-frame locations for an `images` column: local paths for file:// URIs, other URIs unchanged."""
    out = []
    for ref in example.frames:
        parts = urlsplit(ref.uri)
        out.append(unquote(parts.path) if parts.scheme == "file" else ref.uri)
    return out


class ExportFormat(ABC):
    """Turns examples into JSONL records; the base owns prompt checks, counting and the atomic write."""

    def __init__(self, prompt_for: PromptFn, include_images: bool = False) -> None:
        self.prompt_for = prompt_for
        self.include_images = include_images

    @abstractmethod
    def records(self, examples: Mapping[str, Example], stats: ExportStats) -> Iterator[dict[str, Any]]:
        """The records to write; count every example or pair left out in `stats.skipped`."""

    def write(self, examples: Iterable[Example], out: Path) -> ExportStats:
        by_id: dict[str, Example] = {}
        for ex in examples:
            by_id.setdefault(ex.example_id, ex)
        stats = ExportStats(out=out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                for record in self.records(by_id, stats):
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                    stats.written += 1
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        log.info("exported %d records to %s (skipped: %s)", stats.written, out, dict(stats.skipped) or "none")
        return stats

    def prompt(self, example: Example, stats: ExportStats) -> list[Message] | None:
        """The checked prompt turns of one example, or None (counted) if the caller's builder fails."""
        try:
            messages = self.prompt_for(example)
            check_prompt(messages)
        except ExportError as err:
            stats.skipped[err.reason] += 1
            log.warning("example %s: %s", example.example_id, err)
            return None
        except Exception as err:  # the caller's prompt builder: one bad example must not stop the export
            stats.skipped["prompt_error"] += 1
            log.warning("example %s: prompt_for failed: %s: %s", example.example_id, type(err).__name__, err)
            return None
        return messages

    def with_images(self, record: dict[str, Any], example: Example) -> dict[str, Any]:
        if self.include_images:
            record["images"] = frame_paths(example)
        return record


def check_prompt(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise ExportError("bad_prompt", "prompt_for must return a non-empty list of messages")
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in _PROMPT_ROLES:
            raise ExportError("bad_prompt", f"message without a system/user/assistant role: {str(m)[:100]}")
        if not isinstance(m.get("content"), (str, list)):
            raise ExportError("bad_prompt", "message content must be a string or a list of parts")
    if messages[-1]["role"] == "assistant":
        raise ExportError("bad_prompt", "the prompt must not end with an assistant turn")
    try:
        json.dumps(messages)
    except (TypeError, ValueError) as err:
        raise ExportError("bad_prompt", f"prompt is not JSON-serialisable: {err}") from None


def assistant(example: Example) -> list[Message]:
    return [{"role": "assistant", "content": example.output_json}]


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
        self, prompt_for: PromptFn, pairs: Sequence[tuple[str, str]], include_images: bool = False
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
    prompt_for: PromptFn,
    fmt: str,
    out: Path,
    pairs: Sequence[tuple[str, str]] | None = None,
    include_images: bool = False,
) -> ExportStats:
    """Export a list of examples (no Parquet dataset needed)."""
    exporter: ExportFormat
    if fmt == "sft":
        exporter = SftFormat(prompt_for, include_images)
    elif fmt == "preference":
        if pairs is None:
            raise ExportError("no_pairs", "the preference format needs (chosen_id, rejected_id) pairs")
        exporter = PreferenceFormat(prompt_for, pairs, include_images)
    else:
        raise ExportError("unknown_format", f"format {fmt!r} is not 'sft' or 'preference'")
    return exporter.write(examples, out)


def export_dataset(
    config: ExportConfig, prompt_for: PromptFn, pairs: Iterable[tuple[str, str]] | None = None
) -> ExportStats:
    """Entry point of `tailor export`: read the Parquet dataset, write the JSONL, return the counts."""
    if pairs is None and config.format == "preference":
        if config.pairs_file is None:
            raise ExportError("no_pairs", "the preference format needs pairs (pairs_file)")
        pairs = load_pairs(config.pairs_file, config.max_pairs_file_bytes)
    frame_skips: Counter[str] = Counter()

    def selected() -> Iterator[Example]:
        for stored in iter_stored(config.dataset_dir, config.task_families):
            if config.skip_frame_errors and stored.frame_errors:
                frame_skips["frame_error"] += 1
                continue
            yield stored.example

    stats = export_examples(
        selected(),
        prompt_for,
        config.format,
        config.out,
        pairs=None if pairs is None else list(pairs),
        include_images=config.include_images,
    )
    stats.skipped.update(frame_skips)
    return stats
