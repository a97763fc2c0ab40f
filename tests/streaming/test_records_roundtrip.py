"""Each record type round-trips through its topic on the real broker, as JSON (never pickle)."""

import json

import pytest
from pydantic import ValidationError

from core.records import (
    Anchor,
    AnchorSet,
    BBox,
    DeadLetter,
    Example,
    FamilySkip,
    Feedback,
    GuiAction,
    GuiStep,
    GuiTarget,
    Intent,
    MediaRef,
    ModelUpdate,
    RecordError,
    RejectedExample,
    RobotStep,
    SourceSpan,
    TailorRecord,
    VideoSegment,
)
from streaming.producer import TailorProducer
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics, spec_for, topic_specs
from tests.kafka_helpers import consume

NOW = 1_764_000_000.0
SPAN = SourceSpan(
    topic="tailor.raw.robot", partition=0, first_offset=0, last_offset=9, start_time=0.0, end_time=1.0
)
H = "ab" * 32


def samples() -> list[TailorRecord]:
    png = MediaRef.inline(b"\x89PNG fake", "image/png", 4, 4)
    return [
        VideoSegment(
            stream_id="cam-1",
            seq=3,
            start_time=6.0,
            duration_s=2.0,
            event_time=NOW,
            media=MediaRef(media_type="video/mp4", uri="file:///blobs/x.mp4", sha256=H, size_bytes=10),
            codec="h264",
            fps=25.0,
        ),
        GuiStep(
            session_id="s-1",
            step_index=2,
            timestamp=NOW,
            screenshot=png,
            action=GuiAction(
                type="click", x=10, y=20, target=GuiTarget(text="OK", bbox=BBox(x=5, y=15, w=20, h=10))
            ),
            url="https://example.org/a",
            instruction="press OK",
        ),
        RobotStep(
            episode_id="ep-1",
            step_index=0,
            timestamp=NOW,
            state=[0.1] * 7,
            action=[0.0] * 7,
            gripper=1.0,
            cameras={"wrist": png},
            instruction="put carrot on plate",
            is_first=True,
        ),
        Intent(intent_id="i-1", text="make GUI long-horizon data", created_at=NOW),
        AnchorSet(
            window_id="w-1",
            domain="robot",
            key="ep-1",
            span=SPAN,
            num_frames=10,
            anchors=[Anchor(anchor_id="a0", type="gripper_close", frame_index=3, timestamp=0.3)],
            created_at=NOW,
        ),
        Example(
            example_id="e-1",
            task_family="next_subtask",
            output_json="{}",
            window_id="w-1",
            source=SPAN,
            created_at=NOW,
        ),
        RejectedExample(
            example_id="e-2",
            task_family="temporal_qa",
            window_id="w-1",
            reasons=["frame_out_of_window"],
            created_at=NOW,
        ),
        Feedback(
            feedback_id="f-1", kind="example_utility", example_ids=["e-1"], utility=0.25, created_at=NOW
        ),
        ModelUpdate(
            version="v3",
            kind="lora",
            base_model="SmolLM2-135M-Instruct",
            uri="file:///models/v3",
            sha256=H,
            created_at=NOW,
        ),
        FamilySkip(
            window_id="robot:ep-1:0",
            domain="robot",
            task_family="robot_fault_recovery",
            intent_ids=["i-1"],
            reason="no_stall",
            detail="no stall anchor",
            worker="w0",
            created_at=NOW,
        ),
        DeadLetter(
            reason="corrupt_media",
            detail="x",
            stage="ingest_raw_video",
            source_topic="tailor.raw.video",
            source_partition=0,
            source_offset=5,
            payload=b"\x00\x01",
            payload_size=2,
            truncated=False,
            worker="w0",
            created_at=NOW,
        ),
    ]


def test_every_topic_has_one_record_type_with_a_schema_version() -> None:
    specs = topic_specs(TailorSettings())
    assert len({s.name for s in specs}) == len(specs) == 11
    for spec in specs:
        assert spec.record.model_fields["schema_version"].default == 1
    assert [s.name for s in specs if s.compacted] == ["tailor.intents"]


def test_each_record_round_trips_through_its_topic(settings: TailorSettings) -> None:
    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    records = samples()
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as producer:
        for rec in records:
            producer.send(rec)
    for rec in records:
        spec = spec_for(settings, type(rec))
        msgs = consume(settings, spec.name, count=1, timeout_s=20)
        assert len(msgs) == 1, spec.name
        wire = msgs[0].value
        assert json.loads(wire)["schema_version"] == 1  # JSON on the wire
        assert type(rec).from_bytes(wire) == rec
        assert msgs[0].key == str(getattr(rec, spec.key_field)).encode()


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"", "empty_message"),
        (b"\x80\x04\x95pickle", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (b'{"schema_version": 9}', "unsupported_schema_version"),
        (
            b'{"schema_version": 1, "episode_id": "e", "step_index": 0, "timestamp": 1, "state": [NaN]}',
            "nonfinite_value",
        ),
        (
            b'{"schema_version": 1, "episode_id": "../../etc", "step_index": 0, "timestamp": 1, "state": [1]}',
            "schema_mismatch",
        ),
        (b"[" * 10_000 + b"]" * 10_000, "json_too_deep"),
        (b'{"schema_version": 1, "surprise": true}', "schema_mismatch"),
    ],
)
def test_bad_messages_get_reason_labels(payload: bytes, reason: str) -> None:
    with pytest.raises(RecordError) as err:
        RobotStep.from_bytes(payload, max_depth=32)
    assert err.value.reason == reason


def test_oversized_message_is_refused_before_parsing() -> None:
    with pytest.raises(RecordError) as err:
        RobotStep.from_bytes(b"{" + b" " * 2000 + b"}", max_bytes=1000)
    assert err.value.reason == "oversized_message"


def test_media_ref_needs_exactly_one_source() -> None:
    with pytest.raises(ValidationError):
        MediaRef(media_type="image/png", size_bytes=0)
    with pytest.raises(ValidationError):
        MediaRef(media_type="image/png", data=b"abc", uri="file:///x", sha256=H, size_bytes=3)
