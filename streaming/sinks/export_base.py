"""What every training export shares: the prompt of an example (the row's own, else the caller's builder),
its checks, skip counting and the atomic JSONL write. The formats are in `exports.py` and `export_grpo.py`.

Prompt source: a row of sink schema 3 carries the chat messages its example was synthesised from
(`Example.prompt_json`), so it exports with no broker. Rows of schemas 1 and 2 have none: they go to the
caller's `prompt_for` (the CLI rebuilds them from the anchors topic), or, without one, are skipped and
counted as `no_stored_prompt`.
"""

from __future__ import annotations

import json
import logging
import os
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from core.errors import TailorError
from core.records import Example

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
    skipped: Counter[str] = field(default_factory=Counter)  # examples or pairs left out, by reason
    filtered: Counter[str] = field(default_factory=Counter)  # examples not selected, by filter


def frame_paths(example: Example) -> list[str]:
    """Key-frame locations for an `images` column: local paths for file:// URIs, other URIs unchanged."""
    out = []
    for ref in example.frames:
        parts = urlsplit(ref.uri)
        out.append(unquote(parts.path) if parts.scheme == "file" else ref.uri)
    return out


def stored_prompt(example: Example) -> list[Message] | None:
    """The prompt the example was synthesised from, as its row stores it (None: a row older than schema 3)."""
    if example.prompt_json is None:
        return None
    try:
        messages = json.loads(example.prompt_json)
    except ValueError:
        raise ExportError("bad_stored_prompt", "the row's prompt_json is not JSON") from None
    check_prompt(messages)
    return messages  # type: ignore[no-any-return]


class ExportFormat(ABC):
    """Turns examples into JSONL records; the base owns prompt checks, counting and the atomic write."""

    def __init__(self, prompt_for: PromptFn | None, include_images: bool = False) -> None:
        self.prompt_for = prompt_for  # for rows without a stored prompt; None: they are skipped
        self.include_images = include_images

    @abstractmethod
    def records(self, examples: Mapping[str, Example], stats: ExportStats) -> Iterator[dict[str, Any]]:
        """The records to write; count every example or pair left out in `stats.skipped`."""

    def write(self, examples: Iterable[Example], out: Path, stats: ExportStats | None = None) -> ExportStats:
        by_id: dict[str, Example] = {}
        for ex in examples:
            by_id.setdefault(ex.example_id, ex)
        stats = stats or ExportStats(out=out)
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
        """The checked prompt turns of one example (stored, else built), or None (counted) if there is none."""
        try:
            messages = stored_prompt(example)
            if messages is not None:
                return messages
            if self.prompt_for is None:
                raise ExportError("no_stored_prompt", "a row older than sink schema 3, and no prompt builder")
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
