"""A burst of 50 hypothesis-generated hostile messages to a live worker: one dead letter each, with the
reason the same code gives in-process; the worker stays up and still processes a valid record afterwards.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer

from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import (
    DeadLetter,
    GuiAction,
    GuiStep,
    MediaRef,
    RecordError,
    RobotStep,
    TailorRecord,
    VideoSegment,
)
from streaming.app import blob_store
from streaming.ingest_checks import checks_for
from streaming.kafka_clients import kafka_python_kwargs
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics, topic_specs
from tests.conftest import WorkerProcess
from tests.kafka_helpers import consume
from tests.media_helpers import jpeg_bytes, mp4_bytes, png_header_bomb
from tests.streaming.fuzz_strategies import (
    NUMERIC_PATHS,
    RECORDS,
    damaged,
    deep_json,
    json_mutated,
    nonfinite_literals,
    truncated,
    with_nonfinite,
)

BURST = 50
ROLE_RECORD: dict[str, type[TailorRecord]] = {
    "raw_video": VideoSegment,
    "raw_gui": GuiStep,
    "raw_robot": RobotStep,
}
ROLE_KEY = {"raw_video": b"cam-f", "raw_gui": b"s-f", "raw_robot": b"ep-f"}
_SAMPLE_MP4 = mp4_bytes(frames=10)
_SAMPLE_JPEG = jpeg_bytes()


def predicted_reason(
    cls: type[TailorRecord], value: bytes, limits: LimitsConfig, blobs: BlobStore
) -> str | None:
    """What the ingest stage decides, run in-process: a reason label, or None when the record is accepted."""
    try:
        record = cls.from_bytes(value, max_bytes=limits.max_message_bytes, max_depth=limits.max_json_depth)
        for check in checks_for(cls, limits, blobs):
            check.check(record)
    except RecordError as exc:
        return exc.reason
    return None


def _hostile_media(role: str, raw: bytes, uri: str | None) -> bytes:
    now = time.time()
    ref = (
        MediaRef(media_type="video/mp4", uri=uri, sha256=hashlib.sha256(b"x").hexdigest(), size_bytes=1)
        if uri is not None
        else None
    )
    if role == "raw_video":
        media = ref or MediaRef.inline(raw, "video/mp4")
        return VideoSegment(
            stream_id="cam-f", seq=0, start_time=0, duration_s=2, event_time=now, media=media
        ).to_bytes()
    if role == "raw_gui":
        shot = ref or MediaRef.inline(raw, "image/png")
        return GuiStep(
            session_id="s-f",
            step_index=0,
            timestamp=now,
            action=GuiAction(type="click", x=1, y=1),
            screenshot=shot,
        ).to_bytes()
    cams = {"wrist": ref or MediaRef.inline(raw, "image/jpeg")}
    return RobotStep(episode_id="ep-f", step_index=0, timestamp=now, state=[0.0] * 7, cameras=cams).to_bytes()


@st.composite
def hostile_message(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """(kind, raw role, value) that the ingest stage must refuse: every kind of damage, mixed."""
    role = draw(st.sampled_from(sorted(ROLE_RECORD)))
    cls = ROLE_RECORD[role]
    kind = draw(
        st.sampled_from(
            [
                "random",
                "truncated",
                "damaged",
                "mutated",
                "version",
                "nonfinite",
                "deep",
                "wrong_topic",
                "media",
                "uri",
            ]
        )
    )
    if kind == "random":
        return kind, role, draw(st.binary(max_size=256))
    if kind == "wrong_topic":
        other = draw(st.sampled_from([c for c in ROLE_RECORD.values() if c is not cls]))
        return kind, role, draw(RECORDS[other]).to_bytes()
    if kind == "deep":
        return kind, role, b'{"schema_version":1,"state":' + deep_json(draw(st.integers(40, 5000))) + b"}"
    if kind == "media":
        source = {"raw_video": _SAMPLE_MP4, "raw_gui": png_header_bomb(), "raw_robot": _SAMPLE_JPEG}[role]
        return kind, role, _hostile_media(role, draw(damaged(source)) if role != "raw_gui" else source, None)
    if kind == "uri":
        uri = draw(
            st.sampled_from(
                [
                    "file:///etc/passwd",
                    "../../etc/passwd",
                    "file:///tmp/../etc/shadow",
                    "s3://bucket/x",
                    "data:,x",
                    "http://169.254.169.254/",
                    "%2e%2e/%2e%2e/etc",
                ]
            )
        )
        return kind, role, _hostile_media(role, b"", uri)
    record = draw(RECORDS[cls])
    if kind == "truncated":
        return kind, role, draw(truncated(record.to_bytes()))
    if kind == "damaged":
        return kind, role, draw(damaged(record.to_bytes()))
    if kind == "mutated":
        return kind, role, draw(json_mutated(record))
    if kind == "version":
        return (
            kind,
            role,
            record.to_bytes().replace(
                b'"schema_version":1', b'"schema_version":%d' % draw(st.integers(2, 99)), 1
            ),
        )
    path = draw(st.sampled_from(NUMERIC_PATHS[cls]))
    return kind, role, with_nonfinite(record, path, draw(nonfinite_literals))


_PROBE_LIMITS = LimitsConfig()
_PROBE_BLOBS = BlobStore("file:///nonexistent-tailor-root")
refused_message = hostile_message().filter(
    lambda m: predicted_reason(ROLE_RECORD[m[1]], m[2], _PROBE_LIMITS, _PROBE_BLOBS) is not None
)


def generated_burst(size: int) -> list[tuple[str, str, bytes]]:
    """`size` distinct refused messages from a hypothesis run, spread over the kinds of damage.

    (A single hypothesis example would be its simplest one: fifty empty messages.)"""
    pool: dict[bytes, tuple[str, str, bytes]] = {}

    @settings(
        max_examples=150,
        phases=[Phase.generate],
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(refused_message)
    def collect(message: tuple[str, str, bytes]) -> None:
        pool.setdefault(message[2], message)

    collect()
    by_kind: dict[str, list[tuple[str, str, bytes]]] = {}
    for message in pool.values():
        by_kind.setdefault(message[0], []).append(message)
    burst: list[tuple[str, str, bytes]] = []
    while len(burst) < size and any(by_kind.values()):
        for queue in by_kind.values():
            if queue and len(burst) < size:
                burst.append(queue.pop())
    assert len(burst) == size, {k: len(v) for k, v in by_kind.items()}
    return burst


def test_a_hostile_burst_gives_one_labelled_letter_each(
    settings: TailorSettings, worker: WorkerProcess
) -> None:
    burst = generated_burst(BURST)
    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    topics = {spec.role: spec.name for spec in topic_specs(settings) if spec.role in ROLE_RECORD}
    blobs = blob_store(settings)
    producer = KafkaProducer(
        **kafka_python_kwargs(settings, settings.kafka_bootstrap), max_request_size=32 << 20
    )
    sent: dict[tuple[str, int, int], tuple[str, bytes]] = {}
    futures: list[tuple[Any, str, bytes]] = []
    for _kind, role, value in burst:
        expected = predicted_reason(ROLE_RECORD[role], value, settings, blobs)
        assert expected is not None, (role, value[:200])
        futures.append((producer.send(topics[role], key=ROLE_KEY[role], value=value), expected, value))
    producer.flush()
    for fut, expected, value in futures:
        meta = fut.get(timeout=30)
        sent[(meta.topic, meta.partition, meta.offset)] = (expected, value)
    assert len(sent) == BURST

    letters = [
        DeadLetter.from_bytes(m.value)
        for m in consume(settings, settings.topic_dlq, count=BURST, timeout_s=150)
    ]
    where = Counter((d.source_topic, d.source_partition, d.source_offset) for d in letters)
    assert set(where) == set(sent) and max(where.values()) == 1, (where, worker.log()[-3000:])
    for d in letters:
        expected, value = sent[(d.source_topic, d.source_partition, d.source_offset)]
        assert d.reason == expected, (d.reason, expected, d.detail)
        assert d.detail and d.payload == value[: settings.dlq_payload_bytes] and d.payload_size == len(value)
    assert worker.proc.poll() is None, "worker died on hostile input"
    print(
        "kinds:",
        dict(Counter(k for k, _r, _v in burst)),
        "reasons:",
        dict(Counter(d.reason for d in letters)),
    )

    # still alive and working: a valid record is accepted, and no further letter appears
    good = RobotStep(
        episode_id="ep-ok",
        step_index=0,
        timestamp=time.time(),
        state=[0.0] * 7,
        cameras={"wrist": MediaRef.inline(_SAMPLE_JPEG, "image/jpeg")},
    )
    producer.send(topics["raw_robot"], key=b"ep-ok", value=good.to_bytes())
    producer.flush()
    producer.close()
    deadline = time.monotonic() + 60
    while worker.metric("tailor_stage_out_total", stage="ingest_raw_robot") < 1:
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.3)
    assert worker.metric("tailor_dead_lettered_total") == BURST
    assert len(consume(settings, settings.topic_dlq, timeout_s=20, idle_s=2)) == BURST
    assert worker.proc.poll() is None
