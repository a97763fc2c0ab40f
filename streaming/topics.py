"""Topic registry: one typed record per topic, and creation of missing topics at start."""

from __future__ import annotations

import logging
from dataclasses import dataclass

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


def ensure_topics(
    settings: KafkaConfig, topics: TopicsConfig, bootstrap: str, extra_compacted: tuple[str, ...] = ()
) -> list[str]:
    """Create the missing topics (compaction for intents and state changelogs); return the names created."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(client_id="tailor-admin", **kafka_python_kwargs(settings, bootstrap))
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name=spec.name,
                num_partitions=topics.partitions,
                replication_factor=topics.replication_factor,
                topic_configs={"cleanup.policy": "compact"} if spec.compacted else {},
            )
            for spec in topic_specs(topics)
            if spec.name not in existing
        ] + [
            NewTopic(
                name=name,
                num_partitions=topics.partitions,
                replication_factor=topics.replication_factor,
                topic_configs={"cleanup.policy": "compact"},
            )
            for name in extra_compacted
            if name not in existing
        ]
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
