"""`tailor export`: the Parquet examples as chat JSONL for SFT or TRL preference pairs.

Prompts are rebuilt from the anchors topic (window id → AnchorSet) and the intents topic, exactly as the
synthesis stage built them (for gui_task_reconstruction the distractor pool may differ from the one
the worker had, so its prompt lists the same fragments with possibly different distractors).
"""

from __future__ import annotations

from pathlib import Path

from agents.tasks.base import SynthesisContext, TaskSpec
from agents.tasks.catalog import families
from agents.tasks.catalog_config import TasksConfig
from core.records import AnchorSet, Example, Intent
from streaming.settings import TailorSettings
from streaming.sink_stage import examples_root
from streaming.sinks.exports import ExportStats, export_dataset
from streaming.sinks.exports_config import ExportConfig
from streaming.topic_reader import read_topic


class PromptBook:
    def __init__(
        self, anchors: dict[str, AnchorSet], intents: dict[str, Intent], tasks: TasksConfig | None = None
    ) -> None:
        self.anchors = anchors
        self.intents = intents
        self.families = {f.name: f for f in families(tasks)}  # tasks: the families' settings (settings.tasks)

    @classmethod
    def from_topics(cls, settings: TailorSettings) -> PromptBook:
        anchors = {a.window_id: a for a in read_topic(settings, settings.topic_anchors, AnchorSet)}
        intents = {i.intent_id: i for i in read_topic(settings, settings.topic_intents, Intent)}
        return cls(anchors, intents, settings.tasks)

    def prompt_for(self, example: Example) -> list[dict[str, str]]:
        anchors = self.anchors.get(example.window_id)
        family = self.families.get(example.task_family)
        if anchors is None or family is None:
            raise KeyError(f"no anchors or family for {example.example_id} ({example.window_id})")
        intent = self.intents.get(example.intent_id or "")
        spec = TaskSpec(
            example.task_family, example.intent_id, anchors.domain, None, intent.text if intent else ""
        )
        return family.chat_messages(SynthesisContext(anchors, spec))


def run_export(
    settings: TailorSettings, out: Path, fmt: str, families_only: list[str] | None, pairs_file: Path | None
) -> ExportStats:
    config = ExportConfig(
        dataset_dir=examples_root(settings),
        out=out,
        format=fmt,  # type: ignore[arg-type]
        task_families=families_only,
        pairs_file=pairs_file,
    )
    return export_dataset(config, PromptBook.from_topics(settings).prompt_for)
