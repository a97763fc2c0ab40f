"""The JSON depth check: the bracket-count shortcut never changes the answer."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from core.records.base import json_depth, too_deep

STRUCTURAL = st.lists(
    st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b"a", b",", b":", b"\n"]), max_size=200
).map(b"".join)


@settings(max_examples=1500, deadline=None, database=None)
@given(st.one_of(STRUCTURAL, st.binary(max_size=300)), st.integers(1, 40))
def test_the_shortcut_never_changes_the_answer(data: bytes, limit: int) -> None:
    assert too_deep(data, limit) == (json_depth(data, limit) > limit)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[[[[{{{{" * 10, "b": [[1], {"c": ']]]\\"[['}]}).encode()
    assert json_depth(text, 32) == 3 and not too_deep(text, 3) and too_deep(text, 2)
    assert json_depth(b'"unterminated [[[[', 1) == 0
    assert json_depth(b"[" * 10_000, 32) == 33  # stops once past the limit
