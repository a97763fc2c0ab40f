"""Topics the project creates take messages as large as ingest accepts (issue 20, item 9): the window changelog
holds a raw message plus its key and framing, and a broker's 1 MB default `max.message.bytes` would refuse the
state write of a valid large GUI step after ingest accepted it."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient

from streaming.kafka_clients import kafka_python_kwargs
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics, new_topics
from streaming.window_store import changelog_topic


def test_changelog_and_raw_topics_are_created_for_the_largest_raw_message(settings: TailorSettings) -> None:
    assert settings.kafka_bootstrap
    changelog = changelog_topic(settings)
    expected = str(settings.max_message_bytes + (1 << 20))
    # what is asked of the broker (Tansu stores no topic configs to describe back: DescribeConfigs answers {})
    asked = {
        t.name: t.topic_configs for t in new_topics(settings, set(), (changelog,), settings.max_message_bytes)
    }
    assert asked[changelog] == {"cleanup.policy": "compact", "max.message.bytes": expected}
    assert asked[settings.topic_raw_gui] == {"max.message.bytes": expected}
    assert all(c["max.message.bytes"] == expected for c in asked.values())
    # and a real broker takes the request: every topic is there afterwards
    created = ensure_topics(
        settings, settings, settings.kafka_bootstrap, (changelog,), settings.max_message_bytes
    )
    assert sorted(created) == sorted(asked)
    admin = KafkaAdminClient(client_id="t", **kafka_python_kwargs(settings, settings.kafka_bootstrap))
    try:
        assert set(asked) <= set(admin.list_topics())
    finally:
        admin.close()
