"""Span helpers shared by the segmenting experts (GUI subtasks, robot subtasks): pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def anchor_id(extractor: str, kind: str, frame: int, end: int | None = None) -> str:
    """Stable anchor id within a window: expert, anchor type, frame (and span end)."""
    base = f"{extractor}:{kind}:{frame:05d}"
    return base if end is None else f"{base}-{end:05d}"


def partition_problems(spans: Sequence[tuple[int, int]], length: int) -> list[str]:
    """Why `spans` (inclusive (start, end) pairs, in order) is not a partition of frames 0..length-1.

    An empty list means the spans are contiguous, non-overlapping and cover every frame exactly once.
    Labels: empty_window_has_spans, no_spans, bad_span, not_from_start, gap, overlap, not_to_end.
    """
    if length <= 0:
        return ["empty_window_has_spans"] if spans else []
    if not spans:
        return ["no_spans"]
    problems: list[str] = []
    if any(start > end or start < 0 or end >= length for start, end in spans):
        problems.append("bad_span")
    if spans[0][0] != 0:
        problems.append("not_from_start")
    for (_, prev_end), (start, _) in zip(spans, spans[1:]):
        if start > prev_end + 1:
            problems.append("gap")
        elif start <= prev_end:
            problems.append("overlap")
    if spans[-1][1] != length - 1:
        problems.append("not_to_end")
    return sorted(set(problems))


def spans_from_cuts(cuts: Iterable[int], length: int) -> list[tuple[int, int]]:
    """Partition 0..length-1 into spans that start at 0 and at every cut inside (0, length)."""
    if length <= 0:
        return []
    starts = sorted({0, *(c for c in cuts if 0 < c < length)})
    ends = [s - 1 for s in starts[1:]] + [length - 1]
    return list(zip(starts, ends))


def merge_labelled(spans: Sequence[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Merge neighbouring spans that carry the same label (input contiguous and in order)."""
    merged: list[tuple[int, int, str]] = []
    for start, end, label in spans:
        if merged and merged[-1][2] == label and merged[-1][1] + 1 == start:
            merged[-1] = (merged[-1][0], end, label)
        else:
            merged.append((start, end, label))
    return merged
