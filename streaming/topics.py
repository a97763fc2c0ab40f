"""Topic registry: one typed record per topic, and creation of missing topics at start."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from core.records import (
    AnchorSet,
    DeadLetter,
    Example,
    FamilySkip,
    Feedback,
    GuiStep,
    Intent,
    ModelUpdate,
    RejectedExample,
    RobotStep,
    TailorRecord,
    VideoSegment,
)
from core.topics_config import TopicsConfig
from streaming.kafka_clients import kafka_python_kwargs
from streaming.kafka_config import KafkaConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    role: str
    name: str
    record: type[TailorRecord]
    key_field: str
    compacted: bool = False
    description: str = ""


def topic_specs(cfg: TopicsConfig) -> list[TopicSpec]:
    """Every topic Tailor reads or writes, with its record type and key field."""
    return [
        TopicSpec(
            "raw_video", cfg.topic_raw_video, VideoSegment, "stream_id", description="Raw video segments"
        ),
        TopicSpec("raw_gui", cfg.topic_raw_gui, GuiStep, "session_id", description="Raw GUI steps"),
        TopicSpec("raw_robot", cfg.topic_raw_robot, RobotStep, "episode_id", description="Raw robot steps"),
        TopicSpec(
            "intents", cfg.topic_intents, Intent, "intent_id", compacted=True, description="User intents"
        ),
        TopicSpec("anchors", cfg.topic_anchors, AnchorSet, "window_id", description="Anchors per window"),
        TopicSpec("examples", cfg.topic_examples, Example, "example_id", description="Tailored examples"),
        TopicSpec(
            "rejected", cfg.topic_rejected, RejectedExample, "example_id", description="Rejected examples"
        ),
        TopicSpec("feedback", cfg.topic_feedback, Feedback, "feedback_id", description="Downstream feedback"),
        TopicSpec("model_updates", cfg.topic_model_updates, ModelUpdate, "version", description="Weights"),
        TopicSpec("skips", cfg.topic_skips, FamilySkip, "window_id", description="Families with no output"),
        TopicSpec("dlq", cfg.topic_dlq, DeadLetter, "source_topic", description="Dead letters"),
    ]


def spec_for(cfg: TopicsConfig, record: type[TailorRecord]) -> TopicSpec:
    for spec in topic_specs(cfg):
        if spec.record is record:
            return spec
    raise KeyError(f"no topic carries {record.__name__}")


def record_key(spec: TopicSpec, record: TailorRecord) -> bytes:
    return str(getattr(record, spec.key_field)).encode("utf-8")


def new_topics(
    topics: TopicsConfig,
    existing: set[str],
    extra_compacted: tuple[str, ...] = (),
    max_message_bytes: int | None = None,
) -> list[Any]:
    """The `NewTopic` requests for the missing topics (compaction for intents and state changelogs).

    `max_message_bytes` (the largest raw message accepted) sets every new topic's `max.message.bytes` to it plus
    1 MiB: a window's changelog entry is one raw message plus its key and framing, and Kafka's 1 MB broker
    default would refuse the state write of a valid large GUI step after ingest accepted it (issue 20)."""
    from kafka.admin import NewTopic

    sized = {"max.message.bytes": str(max_message_bytes + (1 << 20))} if max_message_bytes else {}
    named = [(spec.name, spec.compacted) for spec in topic_specs(topics)]
    named += [(name, True) for name in extra_compacted]
    return [
        NewTopic(
            name=name,
            num_partitions=topics.partitions,
            replication_factor=topics.replication_factor,
            topic_configs={"cleanup.policy": "compact", **sized} if compacted else dict(sized),
        )
        for name, compacted in named
        if name not in existing
    ]


def ensure_topics(
    settings: KafkaConfig,
    topics: TopicsConfig,
    bootstrap: str,
    extra_compacted: tuple[str, ...] = (),
    max_message_bytes: int | None = None,
) -> list[str]:
    """Create the missing topics (`new_topics`); return the names created."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(client_id="tailor-admin", **kafka_python_kwargs(settings, bootstrap))
    try:
        wanted = new_topics(topics, set(admin.list_topics()), extra_compacted, max_message_bytes)
        if not wanted:
            return []
        try:
            admin.create_topics(wanted)
        except TopicAlreadyExistsError:  # another worker won the race
            pass
        created = [t.name for t in wanted]
        log.info("created topics %s", created)
        return created
    finally:
        admin.close()
