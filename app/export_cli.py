"""`tailor export`: the Parquet examples as chat JSONL for SFT, TRL preference pairs or GRPO prompts.

Rows of sink schema 3 carry their prompt, so the export reads the dataset alone and needs no broker.
Rows of schemas 1 and 2 do not: for them (and only once one is met) the prompts are rebuilt from the
anchors topic (window id → AnchorSet) and the intents topic, as the synthesis stage built them (for
gui_task_reconstruction the distractor pool may differ from the one the worker had). When no broker
answers, or with `offline`, those rows are skipped and counted as `no_stored_prompt`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from agents.tasks.base import SynthesisContext, TaskSpec
from agents.tasks.catalog import families
from agents.tasks.catalog_config import TasksConfig
from core.records import AnchorSet, Example, Intent
from streaming.settings import TailorSettings
from streaming.sink_stage import examples_root
from streaming.sinks.export_base import ExportError
from streaming.sinks.exports import ExportStats, export_dataset
from streaming.sinks.exports_config import ExportConfig
from streaming.topic_reader import read_topic

log = logging.getLogger(__name__)


class PromptBook:
    def __init__(
        self, anchors: dict[str, AnchorSet], intents: dict[str, Intent], tasks: TasksConfig | None = None
    ) -> None:
        self.anchors = anchors
        self.intents = intents
        self.families = {f.name: f for f in families(tasks)}  # tasks: the families' settings (settings.tasks)

    @classmethod
    def from_topics(cls, settings: TailorSettings, timeout_s: float = 30.0) -> PromptBook:
        anchors = {a.window_id: a for a in read_topic(settings, settings.topic_anchors, AnchorSet, timeout_s)}
        intents = {i.intent_id: i for i in read_topic(settings, settings.topic_intents, Intent, timeout_s)}
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


class TopicPrompts:
    """`prompt_for` of rows without a stored prompt: a PromptBook read from the topics on first use (so a
    dataset of schema-3 rows never touches the broker). If the broker cannot be read, every such row is
    skipped as no_stored_prompt; the cause is logged once."""

    def __init__(self, settings: TailorSettings, offline: bool, timeout_s: float) -> None:
        self.settings = settings
        self.offline = offline
        self.timeout_s = timeout_s
        self.book: PromptBook | None = None
        self.unavailable: str | None = "offline export" if offline else None

    def __call__(self, example: Example) -> list[dict[str, str]]:
        if self.book is None and self.unavailable is None:
            from streaming.runtime import resolve_bootstrap

            try:
                self.book = PromptBook.from_topics(resolve_bootstrap(self.settings), self.timeout_s)
            except Exception as err:  # no broker, refused, timed out: the rows that need it are skipped
                self.unavailable = f"{type(err).__name__}: {err}"[:300]
                log.warning("rows without a stored prompt are skipped: the broker is unavailable (%s)", err)
        if self.book is None:
            raise ExportError(
                "no_stored_prompt",
                f"{example.example_id}: a row older than sink schema 3 and no anchors topic ({self.unavailable})",
            )
        return self.book.prompt_for(example)


def run_export(
    settings: TailorSettings, config: ExportConfig, offline: bool = False, broker_timeout_s: float = 30.0
) -> ExportStats:
    return export_dataset(config, TopicPrompts(settings, offline, broker_timeout_s))


def default_dataset(settings: TailorSettings) -> Path:
    return Path(examples_root(settings))
