"""JSON Schemas of every record (from the models) and an AsyncAPI document of the topics."""

from __future__ import annotations

import json
from pathlib import Path

from core.topics_config import TopicsConfig
from streaming.topics import topic_specs


def record_schemas(topics: TopicsConfig) -> dict[str, dict]:  # type: ignore[type-arg]
    return {
        spec.record.__name__: spec.record.model_json_schema(mode="serialization")
        for spec in topic_specs(topics)
    }


def asyncapi_document(topics: TopicsConfig) -> dict:  # type: ignore[type-arg]
    channels: dict[str, dict] = {}  # type: ignore[type-arg]
    operations: dict[str, dict] = {}  # type: ignore[type-arg]
    messages: dict[str, dict] = {}  # type: ignore[type-arg]
    for spec in topic_specs(topics):
        name = spec.record.__name__
        messages[name] = {
            "name": name,
            "contentType": "application/json",
            "payload": {"$ref": f"schemas/{name}.json"},
            "bindings": {
                "kafka": {"key": {"type": "string", "description": f"the record's {spec.key_field}"}}
            },
        }
        channels[spec.role] = {
            "address": spec.name,
            "description": spec.description + (" (compacted)" if spec.compacted else ""),
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {
                "kafka": {
                    "topic": spec.name,
                    "partitions": topics.partitions,
                    "topicConfiguration": {"cleanup.policy": ["compact" if spec.compacted else "delete"]},
                }
            },
        }
        operations[f"publish_{spec.role}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{spec.role}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Tailor topics",
            "version": "1",
            "description": "One typed, versioned JSON record per topic (field `schema_version`). Never pickle.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def write_schemas(topics: TopicsConfig, out: Path) -> list[Path]:
    schema_dir = out / "schemas"
    schema_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in record_schemas(topics).items():
        path = schema_dir / f"{name}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    path = out / "asyncapi.json"
    path.write_text(json.dumps(asyncapi_document(topics), indent=2, sort_keys=True) + "\n")
    written.append(path)
    return written
