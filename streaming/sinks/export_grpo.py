"""GRPO export: one prompt per distinct (window, intent, task family), for TRL's GRPOTrainer.

    {"prompt": [...prompt...], "example_ids": [...], "window_id": ..., "intent_id": ..., "task_family": ...}

GRPOTrainer samples its own completions for `prompt`; the other columns reach the reward functions as
keyword arguments, so a reward can look up the stored examples of the group (`example_ids`, in id order,
the examples the synthesis stage accepted for that prompt). An example whose prompt differs from the
group's first (a gui_task_reconstruction window synthesised twice with other distractors) is left out of
the group and counted as `prompt_mismatch`: its id must not stand for a prompt it was not written for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from core.records import Example
from streaming.sinks.export_base import ExportFormat, ExportStats, Message, frame_paths

log = logging.getLogger(__name__)


class GrpoFormat(ExportFormat):
    def records(self, examples: Mapping[str, Example], stats: ExportStats) -> Iterator[dict[str, Any]]:
        groups: dict[tuple[str, str | None, str], list[Example]] = {}
        for ex in sorted(examples.values(), key=lambda e: e.example_id):
            groups.setdefault((ex.window_id, ex.intent_id, ex.task_family), []).append(ex)
        for (window_id, intent_id, family), members in groups.items():
            prompt: list[Message] | None = None
            ids: list[str] = []
            images: list[str] = []
            for ex in members:
                mine = self.prompt(ex, stats)
                if mine is None:
                    continue
                if prompt is None:
                    prompt = mine
                elif mine != prompt:
                    stats.skipped["prompt_mismatch"] += 1
                    log.warning("example %s: its prompt differs from its group's", ex.example_id)
                    continue
                ids.append(ex.example_id)
                images.extend(p for p in frame_paths(ex) if p not in images)
            if prompt is None:
                continue
            record: dict[str, Any] = {
                "prompt": prompt,
                "example_ids": ids,
                "window_id": window_id,
                "intent_id": intent_id,
                "task_family": family,
            }
            if self.include_images:
                record["images"] = images  # the key frames the group's examples cite, first seen first
            yield record
