"""Publish an intent (checked by the rules parser first) and read the active intents back."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from agents.intents import FamilyChooser, IntentParser, ParsedIntent
from agents.tasks.catalog import families
from core.records import Intent
from streaming.producer import TailorProducer
from streaming.settings import TailorSettings
from streaming.topic_reader import read_topic
from streaming.topics import ensure_topics


class IntentRequest(BaseModel):
    model_config = ConfigDict(frozen=True)
    text: str = Field(min_length=1, description="The request in the user's words.")
    domain: str | None = Field(default=None, description="video | gui | robot.")
    task: str | None = Field(default=None, description="Task family name.")
    budget: int | None = Field(default=None, gt=0, description="Most examples to produce.")
    intent_id: str | None = Field(default=None, description="Id; default derived from the request.")
    active: bool = Field(default=True, description="False retires the intent.")


def derived_id(req: IntentRequest) -> str:
    return "i-" + hashlib.sha256(f"{req.text}|{req.domain}|{req.task}".encode()).hexdigest()[:12]


def intent_parser(settings: TailorSettings, chooser: FamilyChooser | None = None) -> IntentParser:
    """The one way a parser of intents is built: the worker's intent book and the CLI's preview use it."""
    return IntentParser({f.name: f for f in families(settings.tasks)}, chooser, settings.default_budget)


def rules_parser(settings: TailorSettings) -> IntentParser:
    return intent_parser(settings, None)


@dataclass(frozen=True)
class Preview:
    parsed: ParsedIntent
    note: str | None  # why the worker's parse may still differ (its model could not be asked from here)


async def parse_as_worker(settings: TailorSettings, intent: Intent) -> Preview:
    """`intent` parsed as a worker with these settings parses it (`IntentBook.apply`): the same parser, with
    the served model as family chooser when the worker would ask one."""
    if not (settings.intent_model_enabled and settings.synth_backend == "vllm"):
        return Preview(await rules_parser(settings).parse(intent), None)
    if settings.vllm_url is None:
        why = "the worker starts its own vLLM server, which may add families; set TAILOR_VLLM_URL to ask it here"
        return Preview(await rules_parser(settings).parse(intent), why)
    from agents.synthesis.factory import vllm_backend
    from agents.synthesis.vllm_backend import VllmFamilyChooser

    backend = vllm_backend(settings, settings.vllm_url)
    try:
        chooser = VllmFamilyChooser(backend, settings.intent_model_timeout_s)
        parsed = await intent_parser(settings, chooser).parse(intent)
    finally:
        await backend.close()
    note: str | None = None
    if parsed.model_error is not None:
        note = f"the model at {settings.vllm_url} did not answer ({parsed.model_error[:200]}); a worker that reaches it may add families"
    return Preview(parsed, note)


def publish_intent(settings: TailorSettings, req: IntentRequest) -> str:
    assert settings.kafka_bootstrap
    intent = Intent(
        intent_id=req.intent_id or derived_id(req),
        text=req.text,
        domain=req.domain,  # type: ignore[arg-type]
        task=req.task,
        budget=req.budget,
        created_at=time.time(),
        active=req.active,
    )
    rules = rules_parser(settings).parse_rules(intent)  # refuse an unknown task before publishing
    preview = asyncio.run(parse_as_worker(settings, intent)) if intent.active else None
    ensure_topics(settings, settings, settings.kafka_bootstrap, max_message_bytes=settings.max_message_bytes)
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as producer:
        producer.send(intent)
    if preview is None:  # retired: no worker parses it any more
        return describe(rules)
    return describe(preview.parsed) + (f"\n  note: {preview.note}" if preview.note else "")


def describe(parsed: ParsedIntent) -> str:
    specs = ", ".join(s.task_family for s in parsed.specs)
    budget = parsed.specs[0].budget if parsed.specs else None
    state = "active" if parsed.intent.active else "retired"
    return (
        f"{parsed.intent.intent_id} [{state}] {parsed.intent.text!r} -> {specs} "
        f"(domain={parsed.specs[0].domain if parsed.specs else None}, budget={budget}, by {parsed.parsed_by})"
    )


def latest_intents(settings: TailorSettings) -> list[Intent]:
    latest: dict[str, Intent] = {}
    for intent in read_topic(settings, settings.topic_intents, Intent):
        latest[intent.intent_id] = intent
    return [i for i in latest.values() if i.active]
