"""Send downstream results to `tailor.feedback`: build `Feedback` records (from the command line, a JSONL
file or a training callback), check every one with the trainer's own feedback readers, and publish them
only if all pass, so a malformed batch is refused whole and nothing of it is sent.

A record's `feedback_id` defaults to a hash of its content (kind, ids, values, source): sending the same
measurement twice is then a re-delivery the trainer ignores, never a double count.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.errors import TailorError
from core.records import Feedback
from streaming.producer import TailorProducer
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics
from trainer.feedback import FeedbackError, FeedbackLedger
from trainer.feedback_config import FeedbackConfig

MAX_LINE_BYTES = 16 << 20


class FeedbackInputError(TailorError, ValueError):
    """Feedback that is refused before anything is sent; `reason` is a short label."""


def derived_id(fields: dict[str, Any]) -> str:
    content = json.dumps({k: v for k, v in fields.items() if k != "created_at"}, sort_keys=True, default=str)
    return f"fb-{hashlib.sha256(content.encode()).hexdigest()[:24]}"


def make_feedback(**fields: Any) -> Feedback:
    """A Feedback record from its fields; `feedback_id` and `created_at` are filled in when absent.
    FeedbackInputError (reason `invalid_feedback`) names the first bad field."""
    fields = {k: v for k, v in fields.items() if v is not None}
    fields.setdefault("feedback_id", derived_id(fields))
    fields.setdefault("created_at", time.time())
    try:
        return Feedback.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "record"
        raise FeedbackInputError("invalid_feedback", f"{where}: {first.get('msg')}") from None


def read_jsonl(path: Path, source: str | None = None) -> list[Feedback]:
    """Feedback records, one JSON object per line (`feedback_id` and `created_at` optional; `source`
    fills in records that name none). Blank lines are skipped; a bad line refuses the file, naming it."""
    out = []
    try:
        with path.open("rb") as fh:
            for n, raw in enumerate(fh, 1):
                if len(raw) > MAX_LINE_BYTES:
                    raise FeedbackInputError("line_too_long", f"{path}:{n}: over {MAX_LINE_BYTES} bytes")
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise FeedbackInputError("bad_json", f"{path}:{n}: {exc}") from None
                if not isinstance(obj, dict):
                    raise FeedbackInputError("bad_json", f"{path}:{n}: not a JSON object")
                if source and "source" not in obj:
                    obj["source"] = source
                try:
                    out.append(make_feedback(**obj))
                except FeedbackInputError as exc:
                    raise FeedbackInputError(exc.reason, f"{path}:{n}: {exc.detail}") from None
    except OSError as exc:
        raise FeedbackInputError("unreadable", f"{path}: {exc}") from None
    if not out:
        raise FeedbackInputError("no_feedback", f"{path} holds no feedback records")
    return out


def check(records: Sequence[Feedback], config: FeedbackConfig | None = None) -> None:
    """Every record through the trainer's readers, together (so a contradiction or a reused id inside the
    batch shows too); the first refusal is raised as FeedbackInputError with the reader's reason."""
    ledger = FeedbackLedger(config or FeedbackConfig())
    for fb in records:
        try:
            ledger.add(fb)
        except FeedbackError as exc:
            raise FeedbackInputError(exc.reason, exc.detail) from None


class FeedbackSender:
    """Publishes checked feedback to the feedback topic; one producer for its lifetime."""

    def __init__(self, settings: TailorSettings, config: FeedbackConfig | None = None) -> None:
        assert settings.kafka_bootstrap, "resolve the bootstrap address first (streaming.runtime)"
        self.settings = settings
        self.config = config or FeedbackConfig()
        self.producer: TailorProducer | None = None

    def send(self, records: Sequence[Feedback]) -> int:
        check(records, self.config)
        if self.producer is None:
            bootstrap = self.settings.kafka_bootstrap
            assert bootstrap is not None
            ensure_topics(
                self.settings, self.settings, bootstrap, max_message_bytes=self.settings.max_message_bytes
            )
            self.producer = TailorProducer.connect(bootstrap, self.settings, self.settings)
        for fb in records:
            self.producer.send(fb)
        return self.producer.flush()

    def close(self) -> None:
        if self.producer is not None:
            self.producer.close()
            self.producer = None


def send_feedback(settings: TailorSettings, records: Sequence[Feedback]) -> int:
    """Check, then publish `records`; how many the broker acknowledged."""
    sender = FeedbackSender(settings)
    try:
        return sender.send(records)
    finally:
        sender.close()
