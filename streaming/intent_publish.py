"""Publish an intent (checked by the rules parser first) and read the active intents back."""

from __future__ import annotations

import hashlib
import time

from pydantic import BaseModel, ConfigDict, Field

from agents.intents import IntentParser, ParsedIntent
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


def rules_parser(settings: TailorSettings) -> IntentParser:
    return IntentParser({f.name: f for f in families(settings.tasks)}, None, settings.default_budget)


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
    parsed = rules_parser(settings).parse_rules(intent)  # refuse an unknown task before publishing
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as producer:
        producer.send(intent)
    return describe(parsed)


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
