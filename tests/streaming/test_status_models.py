"""`tailor status` says what wrote the latest examples: which model and weights, and whether it saw key frames
as images (read from the examples topic of a real broker)."""

from __future__ import annotations

import pytest
from kafka import KafkaProducer

from app.status import collect_status, render_status
from streaming.kafka_clients import kafka_python_kwargs
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics
from tests.streaming.sinks.sink_helpers import make_example


def test_status_shows_the_model_and_its_images(
    settings: TailorSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    text_only = [make_example(i, "qa", []).model_copy(update={"weights_version": None}) for i in range(3)]
    seeing = [
        make_example(i, "qa", []).model_copy(
            update={"model": "tiny-vlm", "weights_version": None, "image_frames": [0, 4]}
        )
        for i in range(3, 5)
    ]
    producer = KafkaProducer(**kafka_python_kwargs(settings, settings.kafka_bootstrap))
    for ex in [*text_only, *seeing]:
        producer.send(settings.topic_examples, key=ex.example_id.encode(), value=ex.to_bytes())
    producer.flush()
    producer.close()

    status = collect_status(settings, dead_letters=0)
    use = {(m.model, m.weights_version): (m.examples, m.with_images, m.images) for m in status.models}
    assert use == {(text_only[0].model, "base"): (3, 0, 0), ("tiny-vlm", "base"): (2, 2, 4)}
    render_status(status)
    row = next(line for line in capsys.readouterr().out.splitlines() if "tiny-vlm" in line)
    assert [cell.strip() for cell in row.split("│")[1:-1]] == ["tiny-vlm", "base", "2", "2", "2.0"]
