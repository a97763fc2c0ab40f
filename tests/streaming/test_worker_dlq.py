"""Corrupt input is dead-lettered with its reason and source offset; the worker keeps going."""

from __future__ import annotations

import time

from kafka import KafkaProducer

from core.records import DeadLetter, GuiAction, GuiStep, MediaRef, RobotStep, VideoSegment
from streaming.kafka_clients import kafka_python_kwargs
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics
from tests.conftest import WorkerProcess
from tests.kafka_helpers import consume
from tests.media_helpers import jpeg_bytes, mp4_bytes, png_header_bomb

NOW = time.time()


def robot(i: int, **kw: object) -> RobotStep:
    base: dict[str, object] = {
        "episode_id": "ep-a",
        "step_index": i,
        "timestamp": NOW + i,
        "state": [0.0] * 7,
        "action": [0.0] * 7,
    }
    base.update(kw)
    return RobotStep(**base)  # type: ignore[arg-type]


def wait_for(pred, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.3)
    raise AssertionError("condition not reached in time")


def test_corrupt_inputs_are_dead_lettered_and_the_worker_continues(
    settings: TailorSettings, worker: WorkerProcess
) -> None:
    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    producer = KafkaProducer(
        **kafka_python_kwargs(settings, settings.kafka_bootstrap), max_request_size=32 << 20
    )
    good_jpeg = MediaRef.inline(jpeg_bytes(), "image/jpeg")
    bad = {
        # (topic, key, value) -> expected reason
        (settings.topic_raw_robot, b"ep-a", b"\x80\x04pickle-ish garbage"): "invalid_json",
        (
            settings.topic_raw_robot,
            b"ep-a",
            b'{"schema_version": 2, "episode_id": "ep-a"}',
        ): "unsupported_schema_version",
        (
            settings.topic_raw_robot,
            b"ep-a",
            b'{"schema_version":1,"episode_id":"ep-a","step_index":1,"timestamp":1,"state":[1e999]}',
        ): "nonfinite_value",
        (
            settings.topic_raw_robot,
            b"ep-a",
            robot(2, cameras={"c": MediaRef.inline(b"\xff\xd8 not a jpeg", "image/jpeg")}).to_bytes(),
        ): "corrupt_media",
        (settings.topic_raw_robot, b"ep-a", robot(3, state=[0.0] * 5000).to_bytes()): "vector_too_long",
        (
            settings.topic_raw_video,
            b"cam",
            VideoSegment(
                stream_id="cam",
                seq=0,
                start_time=0,
                duration_s=2,
                event_time=NOW,
                media=MediaRef.inline(mp4_bytes()[:600], "video/mp4"),
            ).to_bytes(),
        ): "corrupt_media",
        (
            settings.topic_raw_video,
            b"cam",
            VideoSegment(
                stream_id="cam",
                seq=1,
                start_time=2,
                duration_s=2,
                event_time=NOW,
                media=MediaRef(
                    media_type="video/mp4", uri="file:///etc/passwd", sha256="0" * 64, size_bytes=10
                ),
            ).to_bytes(),
        ): "uri_outside_roots",
        (
            settings.topic_raw_gui,
            b"s",
            GuiStep(
                session_id="s",
                step_index=0,
                timestamp=NOW,
                action=GuiAction(type="click", x=1, y=1),
                screenshot=MediaRef.inline(png_header_bomb(), "image/png"),
            ).to_bytes(),
        ): "resolution_too_large",
    }
    for topic, key, value in bad:
        producer.send(topic, key=key, value=value)
    producer.flush()
    letters = [
        DeadLetter.from_bytes(m.value)
        for m in consume(settings, settings.topic_dlq, count=len(bad), timeout_s=90)
    ]
    assert sorted(d.reason for d in letters) == sorted(bad.values()), (
        [(d.reason, d.detail) for d in letters],
        worker.log()[-4000:],
    )
    for d in letters:
        assert d.source_topic in (settings.topic_raw_robot, settings.topic_raw_video, settings.topic_raw_gui)
        assert d.source_offset >= 0 and d.payload_size > 0 and d.detail
        original = [v for (t, _k, v) in bad if t == d.source_topic]
        assert d.payload in [v[: settings.dlq_payload_bytes] for v in original]
    assert worker.proc.poll() is None, "worker died on bad input"

    # the worker still accepts good records afterwards, on every raw topic
    producer.send(settings.topic_raw_robot, key=b"ep-a", value=robot(4, cameras={"c": good_jpeg}).to_bytes())
    producer.send(
        settings.topic_raw_video,
        key=b"cam",
        value=VideoSegment(
            stream_id="cam",
            seq=2,
            start_time=4,
            duration_s=2,
            event_time=NOW,
            media=MediaRef.inline(mp4_bytes(), "video/mp4", 64, 48),
        ).to_bytes(),
    )
    producer.send(
        settings.topic_raw_gui,
        key=b"s",
        value=GuiStep(
            session_id="s",
            step_index=1,
            timestamp=NOW,
            action=GuiAction(type="click", x=3, y=3),
            screenshot=MediaRef.inline(jpeg_bytes(), "image/jpeg"),
        ).to_bytes(),
    )
    producer.flush()
    producer.close()
    wait_for(lambda: worker.metric("tailor_stage_out_total") >= 3)
    assert worker.metric("tailor_stage_out_total", stage="ingest_raw_robot") == 1
    assert worker.metric("tailor_stage_out_total", stage="ingest_raw_video") == 1
    assert worker.metric("tailor_stage_out_total", stage="ingest_raw_gui") == 1
    assert worker.metric("tailor_dead_lettered_total") == len(bad)
    assert worker.metric("tailor_dead_lettered_total", reason="corrupt_media") == 2
    assert worker.metric("tailor_records_in_total", topic=settings.topic_raw_robot) == 6
    assert worker.proc.poll() is None
