"""Hypothesis strategies for hostile input: valid records of each type, then broken in every way we know.

Shared by the in-process fuzz tests and the live-worker burst. Nothing here talks to Kafka.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from core.records import (
    BBox,
    Feedback,
    GuiAction,
    GuiStep,
    GuiTarget,
    Intent,
    MediaRef,
    ModelUpdate,
    RobotStep,
    TailorRecord,
    VideoSegment,
)

# what TailorRecord.from_bytes may raise, as RecordError.reason
RECORD_REASONS = frozenset(
    {
        "empty_message",
        "oversized_message",
        "json_too_deep",
        "invalid_json",
        "unsupported_schema_version",
        "nonfinite_value",
        "schema_mismatch",
    }
)
RAW_TYPES: tuple[type[TailorRecord], ...] = (VideoSegment, GuiStep, RobotStep)
PIPELINE_TYPES: tuple[type[TailorRecord], ...] = (Feedback, Intent, ModelUpdate)

ids = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.:@+=-]{0,30}", fullmatch=True)
finite = st.floats(allow_nan=False, allow_infinity=False)
times = st.floats(min_value=0, max_value=4e9, allow_nan=False)
short_text = st.text(max_size=40)
sha = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
nonfinite_literals = st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"])


def _uri_ref(media_type: str, uri: str, digest: str, size: int) -> MediaRef:
    return MediaRef(media_type=media_type, uri=uri, sha256=digest, size_bytes=size)


media_types = st.sampled_from(["image/png", "image/jpeg", "video/mp4", "video/webm"])
media_refs = st.one_of(
    st.builds(MediaRef.inline, st.binary(max_size=48), media_types),
    st.builds(_uri_ref, media_types, st.just("file:///blobs/ab/x.bin"), sha, st.integers(0, 1 << 30)),
)
bboxes = st.builds(BBox, x=finite, y=finite, w=st.floats(0, 1e6), h=st.floats(0, 1e6))
gui_actions = st.builds(
    GuiAction,
    type=st.sampled_from(["click", "type", "scroll", "swipe", "key", "done", "other"]),
    x=st.none() | finite,
    y=st.none() | finite,
    text=st.none() | short_text,
    target=st.none() | st.builds(GuiTarget, text=st.none() | short_text, bbox=st.none() | bboxes),
)

video_segments = st.builds(
    VideoSegment,
    stream_id=ids,
    seq=st.integers(0, 1 << 40),
    start_time=times,
    duration_s=times,
    event_time=finite,
    media=media_refs,
    codec=st.none() | st.sampled_from(["h264", "vp8"]),
    fps=st.none() | st.floats(min_value=0.01, max_value=1000),
    source=st.none() | short_text,
    is_last=st.booleans(),
)
gui_steps = st.builds(
    GuiStep,
    session_id=ids,
    step_index=st.integers(0, 1 << 40),
    timestamp=finite,
    screenshot=st.none() | media_refs,
    action=gui_actions,
    html=st.none() | short_text,
    url=st.none() | short_text,
    instruction=st.none() | short_text,
    is_last=st.booleans(),
)
robot_steps = st.builds(
    RobotStep,
    episode_id=ids,
    step_index=st.integers(0, 1 << 40),
    timestamp=finite,
    state=st.lists(finite, min_size=1, max_size=16),
    action=st.lists(finite, max_size=16),
    gripper=st.none() | finite,
    cameras=st.dictionaries(ids, media_refs, max_size=2),
    instruction=st.none() | short_text,
    is_first=st.booleans(),
    is_last=st.booleans(),
)
feedbacks = st.builds(
    Feedback,
    feedback_id=st.text(max_size=40),
    kind=st.sampled_from(["example_utility", "batch_metric", "preference"]),
    example_ids=st.lists(short_text, max_size=5),
    utility=st.none() | finite,
    metric=st.none() | short_text,
    value=st.none() | finite,
    created_at=finite,
)
intents = st.builds(
    Intent,
    intent_id=ids,
    text=st.text(min_size=1, max_size=80),
    domain=st.none() | st.sampled_from(["video", "gui", "robot"]),
    budget=st.none() | st.integers(1, 10_000),
    created_at=finite,
    active=st.booleans(),
)
model_updates = st.builds(
    ModelUpdate,
    version=st.text(max_size=20),
    kind=st.sampled_from(["lora", "full"]),
    base_model=short_text,
    uri=short_text,
    sha256=sha,
    metrics=st.dictionaries(short_text, finite, max_size=4),
    trained_on=st.lists(short_text, max_size=4),
    created_at=finite,
)
RECORDS: dict[type[TailorRecord], st.SearchStrategy[Any]] = {
    VideoSegment: video_segments,
    GuiStep: gui_steps,
    RobotStep: robot_steps,
    Feedback: feedbacks,
    Intent: intents,
    ModelUpdate: model_updates,
}
# numeric fields (top-level or nested) where a non-finite value must be refused: (type, path)
NUMERIC_PATHS: dict[type[TailorRecord], list[tuple[str | int, ...]]] = {
    VideoSegment: [("start_time",), ("duration_s",), ("event_time",)],
    GuiStep: [("timestamp",), ("action", "x"), ("action", "y")],
    RobotStep: [("timestamp",), ("state", 0), ("gripper",)],
    Feedback: [("utility",), ("value",), ("created_at",)],
    Intent: [("created_at",)],
    ModelUpdate: [("metrics", "loss"), ("created_at",)],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


# ---- byte-level damage -------------------------------------------------------------------------------


@st.composite
def truncated(draw: st.DrawFn, data: bytes) -> bytes:
    return data[: draw(st.integers(0, max(0, len(data) - 1)))]


@st.composite
def bit_flipped(draw: st.DrawFn, data: bytes, max_flips: int = 8) -> bytes:
    buf = bytearray(data)
    if not buf:
        return bytes(buf)
    for _ in range(draw(st.integers(1, max_flips))):
        i = draw(st.integers(0, len(buf) - 1))
        buf[i] ^= 1 << draw(st.integers(0, 7))
    return bytes(buf)


@st.composite
def spliced(draw: st.DrawFn, data: bytes) -> bytes:
    """Delete, duplicate or overwrite a random span with random bytes."""
    if not data:
        return draw(st.binary(max_size=64))
    i = draw(st.integers(0, len(data) - 1))
    j = draw(st.integers(i, min(len(data), i + 64)))
    op = draw(st.sampled_from(["delete", "duplicate", "overwrite"]))
    if op == "delete":
        return data[:i] + data[j:]
    if op == "duplicate":
        return data[:j] + data[i:j] + data[j:]
    return data[:i] + draw(st.binary(min_size=j - i, max_size=j - i)) + data[j:]


def damaged(data: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(truncated(data), bit_flipped(data), spliced(data))


# ---- JSON-level damage -------------------------------------------------------------------------------


def set_path(obj: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A copy of `obj` with `value` at `path` (missing dicts are created, short lists padded)."""
    out = json.loads(json.dumps(obj))
    cur: Any = out
    for part in path[:-1]:
        if isinstance(cur, dict):
            if not isinstance(cur.get(part), (dict, list)):
                cur[part] = {}
            cur = cur[part]
        else:
            cur = cur[part]  # type: ignore[index]
    last = path[-1]
    if isinstance(cur, list):
        assert isinstance(last, int)
        while len(cur) <= last:
            cur.append(0.0)
    cur[last] = value
    return out  # type: ignore[no-any-return]


@st.composite
def json_mutated(draw: st.DrawFn, record: TailorRecord) -> bytes:
    """Replace, drop or add one field (at top level or one level down) with any JSON value."""
    obj = json.loads(record.to_bytes())
    keys = sorted(obj)
    op = draw(st.sampled_from(["replace", "drop", "add", "replace_nested"]))
    if op == "drop":
        obj.pop(draw(st.sampled_from(keys)))
    elif op == "add":
        obj[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    elif op == "replace":
        obj[draw(st.sampled_from(keys))] = draw(json_values)
    else:
        nested = [k for k in keys if isinstance(obj[k], dict) and obj[k]]
        if nested:
            k = draw(st.sampled_from(nested))
            obj[k][draw(st.sampled_from(sorted(obj[k])))] = draw(json_values)
        else:
            obj[draw(st.sampled_from(keys))] = draw(json_values)
    return json.dumps(obj).encode()


def deep_json(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


def with_nonfinite(record: TailorRecord, path: tuple[str | int, ...], literal: bytes) -> bytes:
    """The record's JSON with a NaN / Infinity / 1e999 literal at `path` (json.dumps cannot write 1e999)."""
    marker = "__NONFINITE__"
    obj = set_path(json.loads(record.to_bytes()), path, marker)
    return json.dumps(obj).encode().replace(f'"{marker}"'.encode(), literal)
