"""Fuzzed record decoding: any bytes give a valid record or a RecordError with a known reason label.

Valid records of every raw type (VideoSegment, GuiStep, RobotStep) and of three pipeline types
(Feedback, Intent, ModelUpdate) are generated, then truncated, bit-flipped, spliced, re-typed field by
field, nested deeply, blown up, given a wrong schema_version or a NaN / infinity. Every example has a
deadline; nothing else may be raised.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.limits_config import LimitsConfig
from core.records import GuiAction, GuiStep, RecordError, RobotStep, TailorRecord
from tests.streaming.fuzz_strategies import (
    NUMERIC_PATHS,
    PIPELINE_TYPES,
    RAW_TYPES,
    RECORD_REASONS,
    RECORDS,
    damaged,
    deep_json,
    json_mutated,
    json_values,
    nonfinite_literals,
    set_path,
    with_nonfinite,
)

ALL_TYPES = (*RAW_TYPES, *PIPELINE_TYPES)
FUZZ = settings(max_examples=150, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
record_types = st.sampled_from(ALL_TYPES)


def decode(cls: type[TailorRecord], data: bytes | None, **kw: int) -> str | TailorRecord:
    """The record, or the reason label; any other exception fails the test."""
    try:
        return cls.from_bytes(data, **kw)
    except RecordError as exc:
        assert exc.reason in RECORD_REASONS, (exc.reason, exc.detail)
        assert exc.detail
        return exc.reason


@FUZZ
@given(st.data())
def test_valid_records_round_trip(data: st.DataObject) -> None:
    cls = data.draw(record_types)
    record = data.draw(RECORDS[cls])
    assert cls.from_bytes(record.to_bytes()) == record


@FUZZ
@given(st.data())
def test_damaged_records_decode_or_fail_with_a_label(data: st.DataObject) -> None:
    cls = data.draw(record_types)
    raw = data.draw(RECORDS[cls]).to_bytes()
    bad = data.draw(damaged(raw))
    out = decode(cls, bad)
    if isinstance(out, TailorRecord):  # a flip inside a digit or a string can leave a valid record
        assert isinstance(out, cls)
    if len(bad) < len(raw) and bad == raw[: len(bad)]:
        assert out in ("empty_message", "invalid_json"), out  # a strict prefix of an object never parses


@FUZZ
@given(record_types, st.binary(max_size=4096))
@example(RobotStep, b"")
@example(RobotStep, b"\x80\x04pickle")
@example(GuiStep, b"\xef\xbb\xbf{}")
def test_random_bytes_fail_with_a_label(cls: type[TailorRecord], raw: bytes) -> None:
    assert decode(cls, raw) in RECORD_REASONS


@FUZZ
@given(st.data())
def test_any_field_replaced_dropped_or_added(data: st.DataObject) -> None:
    cls = data.draw(record_types)
    bad = data.draw(json_mutated(data.draw(RECORDS[cls])))
    out = decode(cls, bad)
    assert isinstance(out, (str, cls))


wrong_versions = st.one_of(
    st.integers().filter(lambda v: v != 1),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@FUZZ
@given(st.data(), wrong_versions)
def test_wrong_schema_version_is_labelled(data: st.DataObject, version: object) -> None:
    cls = data.draw(record_types)
    obj = json.loads(data.draw(RECORDS[cls]).to_bytes())
    obj["schema_version"] = version
    assert decode(cls, json.dumps(obj).encode()) == "unsupported_schema_version"


@pytest.mark.parametrize("version", [True, 1.0, "1", 2, 0, None, [1]])
def test_schema_version_must_be_the_integer_1(version: object) -> None:
    """JSON `true` and `1.0` were once read as version 1 (Python's True == 1 == 1.0)."""
    obj = json.loads(RobotStep(episode_id="e", step_index=0, timestamp=1.0, state=[0.0]).to_bytes())
    obj["schema_version"] = version
    assert decode(RobotStep, json.dumps(obj).encode()) == "unsupported_schema_version"


@FUZZ
@given(st.data(), nonfinite_literals)
def test_nonfinite_numbers_are_labelled(data: st.DataObject, literal: bytes) -> None:
    cls = data.draw(record_types)
    record = data.draw(RECORDS[cls])
    path = data.draw(st.sampled_from(NUMERIC_PATHS[cls]))
    assert decode(cls, with_nonfinite(record, path, literal)) == "nonfinite_value"


@FUZZ
@given(st.data(), st.integers(1, 5000), st.sampled_from(["list", "object"]))
def test_deep_nesting_is_refused_before_parsing(data: st.DataObject, depth: int, shape: str) -> None:
    cls = data.draw(record_types)
    limit = LimitsConfig().max_json_depth
    nested = deep_json(depth) if shape == "list" else b'{"a":' * depth + b"1" + b"}" * depth
    obj = json.loads(data.draw(RECORDS[cls]).to_bytes())
    field = data.draw(st.sampled_from(sorted(obj)))
    raw = json.dumps(set_path(obj, (field,), "__DEEP__")).encode().replace(b'"__DEEP__"', nested)
    out = decode(cls, raw, max_depth=limit)
    if depth + 1 > limit:  # the record object itself is one level
        assert out == "json_too_deep"
    else:
        assert out != "json_too_deep"


@FUZZ
@given(st.text(alphabet='[]{}"\\ab ', max_size=600))
def test_brackets_inside_strings_do_not_count_as_nesting(text: str) -> None:
    step = GuiStep(
        session_id="s",
        step_index=0,
        timestamp=1.0,
        action=GuiAction(type="type", text=text),
        instruction="[" * 100 + text,
        html="{" * 100,
    )
    assert GuiStep.from_bytes(step.to_bytes(), max_depth=8) == step


@FUZZ
@given(record_types, st.integers(1, 4096), st.integers(0, 64))
def test_size_cap_is_applied_before_parsing(cls: type[TailorRecord], cap: int, over: int) -> None:
    raw = b"[" * (cap + 1 + over)  # would be json_too_deep, were it read
    assert decode(cls, raw, max_bytes=cap) == "oversized_message"


@FUZZ
@given(record_types, st.sampled_from([None, b""]))
def test_empty_messages_are_labelled(cls: type[TailorRecord], raw: bytes | None) -> None:
    assert decode(cls, raw) == "empty_message"


@FUZZ
@given(st.data(), json_values)
def test_any_json_document_fails_with_a_label_or_is_a_record(data: st.DataObject, doc: object) -> None:
    cls = data.draw(record_types)
    out = decode(cls, json.dumps(doc).encode())
    assert isinstance(out, (str, cls))


@pytest.mark.parametrize(
    "cls,raw,want",
    [
        # at the default caps: one byte over 16 MiB is refused without being read
        (RobotStep, b"{" + b" " * (16 << 20), "oversized_message"),
        # a 2.6 MB record with a 200k-long state vector parses (the vector cap is an ingest check)
        (
            RobotStep,
            b'{"episode_id":"e","step_index":0,"timestamp":1,"state":[' + b"0.5," * 200_000 + b"1]}",
            None,
        ),
        # 8 MB of HTML in one string
        (
            GuiStep,
            b'{"session_id":"s","step_index":0,"timestamp":1,"action":{"type":"click"},"html":"'
            + b"<b>[{" * (8 << 18)
            + b'"}',
            None,
        ),
        # 1 MB of nesting
        (RobotStep, deep_json(1 << 20), "json_too_deep"),
    ],
    ids=["oversized", "long_vector", "huge_html", "megabyte_nesting"],
)
def test_huge_messages_at_default_caps_finish_within_the_decode_timeout(
    cls: type[TailorRecord], raw: bytes, want: str | None
) -> None:
    limits = LimitsConfig()
    started = time.perf_counter()
    out = decode(cls, raw, max_bytes=limits.max_message_bytes, max_depth=limits.max_json_depth)
    elapsed = time.perf_counter() - started
    assert elapsed < limits.decode_timeout_s, elapsed
    if want is None:
        assert isinstance(out, cls), out
    else:
        assert out == want
