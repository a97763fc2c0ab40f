"""Multi-event segmentation: labels from instruction and trajectory cues; fragments always partition."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.extractors.gui.segmentation import SegmentationExtractor
from agents.extractors.gui.segmentation_cues import instruction_cues, phase_cuts
from agents.extractors.gui.spans import merge_labelled, partition_problems, spans_from_cuts
from core.records import Anchor, GuiAction, GuiTarget
from tests.agents.extractors.gui.helpers import step, window


def click(text: str) -> GuiAction:
    return GuiAction(type="click", x=10, y=10, target=GuiTarget(text=text))


def typed(text: str) -> GuiAction:
    return GuiAction(type="type", text=text, target=GuiTarget(text="search box"))


def spans_of(anchors: list[Anchor]) -> list[tuple[int, int]]:
    subtasks = [a for a in anchors if a.type == "subtask"]
    return [(a.frame_index, a.end_frame_index if a.end_frame_index is not None else -1) for a in subtasks]


def label_of(anchors: list[Anchor]) -> str:
    (seg,) = [a for a in anchors if a.type == "segmentation"]
    return seg.content


@pytest.mark.parametrize(
    ("instruction", "goals", "ordered", "unordered"),
    [
        ('open app "Clock" (install if not already installed)', 1, False, False),
        ("Buy salt and pepper", 1, False, False),
        ("Search for hotels in Paris then book the cheapest one", 2, True, False),
        ("Set an alarm for 7am and send a message to Bob", 2, False, True),
        ("First open Settings, then turn on wifi and check the weather", 3, True, True),
        ("1. open maps 2. search for cafes 3. share the first result", 3, True, False),
        ("Open Chrome, search for the weather in Paris, and share it with Alice", 3, True, False),
    ],
)
def test_instruction_cues(instruction: str, goals: int, ordered: bool, unordered: bool) -> None:
    cues = instruction_cues(instruction)
    assert (len(cues.goals), cues.ordered, cues.unordered) == (goals, ordered, unordered)


def test_single_goal_in_one_app_is_none_with_one_fragment() -> None:
    w = window(
        [
            step(
                0, GuiAction(type="home"), instruction='open app "Clock" (install if not already installed)'
            ),
            step(1, GuiAction(type="scroll", x=1, y=300, end_x=1, end_y=0)),
            step(2, click("Clock")),
            step(3, GuiAction(type="done")),
        ]
    )
    anchors = SegmentationExtractor()(w)
    assert label_of(anchors) == "none"
    assert spans_of(anchors) == [(0, 3)]
    assert [a.content for a in anchors if a.type == "subtask"] == [
        'open app "Clock" (install if not already installed)'
    ]


def test_ordered_goals_across_apps_are_sequential_with_one_fragment_per_goal() -> None:
    w = window(
        [
            step(
                0,
                typed("hotels in paris"),
                app="com.booking",
                instruction="Search for hotels in Paris then email the list to Bob",
            ),
            step(1, click("Search hotels"), app="com.booking"),
            step(2, click("Compose"), app="com.google.gmail"),
            step(3, typed("bob"), app="com.google.gmail"),
            step(4, click("Send email"), app="com.google.gmail"),
        ]
    )
    anchors = SegmentationExtractor()(w)
    assert label_of(anchors) == "sequential"
    assert spans_of(anchors) == [(0, 1), (2, 4)]
    contents = [a.content for a in anchors if a.type == "subtask"]
    assert contents == ["Search for hotels in Paris", "email the list to Bob"]


def test_interleaved_sites_are_parallel() -> None:
    w = window(
        [
            step(
                0,
                typed("iphone 15"),
                url="https://www.amazon.com/",
                instruction="Compare the iPhone 15 price on Amazon and eBay",
            ),
            step(1, typed("iphone 15"), url="https://www.ebay.com/"),
            step(2, click("Price"), url="https://www.amazon.com/s"),
            step(3, click("Price"), url="https://www.ebay.com/s"),
        ]
    )
    anchors = SegmentationExtractor()(w)
    assert label_of(anchors) == "parallel"
    assert spans_of(anchors) == [(0, 0), (1, 1), (2, 2), (3, 3)]


def test_ordered_and_unordered_goals_are_hybrid() -> None:
    w = window(
        [
            step(
                0,
                click("Settings"),
                app="settings",
                instruction="First open Settings, then turn on wifi and check the weather",
            ),
            step(1, click("Wifi"), app="settings"),
            step(2, click("Weather"), app="weather"),
        ]
    )
    assert label_of(SegmentationExtractor()(w)) == "hybrid"


def test_long_phases_cut_fragments() -> None:
    assert phase_cuts(["input"] * 3 + ["pointer"] * 3 + ["navigate"], 3) == [3]
    assert phase_cuts(["input", "pointer", "input"], 1) == [1, 2]
    w = window(
        [step(i, typed(f"word{i}")) for i in range(3)] + [step(i, click(f"item{i}")) for i in range(3, 6)]
    )
    anchors = SegmentationExtractor()(w)
    assert spans_of(anchors) == [(0, 2), (3, 5)]
    assert label_of(anchors) == "sequential"


def test_partition_problems_names_each_defect() -> None:
    assert partition_problems([(0, 2), (3, 5)], 6) == []
    assert partition_problems([(0, 2), (4, 5)], 6) == ["gap"]
    assert partition_problems([(0, 3), (3, 5)], 6) == ["overlap"]
    assert partition_problems([(1, 5)], 6) == ["not_from_start"]
    assert partition_problems([(0, 4)], 6) == ["not_to_end"]
    assert partition_problems([(0, 2), (2, 1), (3, 5)], 6) == ["bad_span", "gap", "overlap"]
    assert partition_problems([], 3) == ["no_spans"]
    assert partition_problems([], 0) == []
    assert merge_labelled([(0, 1, "a"), (2, 3, "a"), (4, 4, "b")]) == [(0, 3, "a"), (4, 4, "b")]


@given(cuts=st.lists(st.integers(min_value=-5, max_value=60), max_size=20), length=st.integers(0, 50))
def test_spans_from_cuts_always_partition(cuts: list[int], length: int) -> None:
    assert partition_problems(spans_from_cuts(cuts, length), length) == []


ACTIONS = st.sampled_from(["click", "type", "scroll", "home", "back", "done", "select", "hover"])
STEP = st.tuples(
    ACTIONS,
    st.sampled_from([None, "a", "b", "c"]),
    st.sampled_from([None, "https://x.com/1", "https://y.org/", "http://www.x.com/2"]),
    st.sampled_from(["", "alarm", "message", "hotel", "weather"]),
)
INSTRUCTIONS = st.sampled_from(
    [
        None,
        "",
        "set an alarm and send a message",
        "find a hotel then check the weather",
        "first open a, then open b and open c",
        "open the alarm",
    ]
)


@settings(max_examples=150, deadline=None)
@given(raw=st.lists(STEP, min_size=1, max_size=25), instruction=INSTRUCTIONS)
def test_fragments_partition_any_trajectory(
    raw: list[tuple[str, str | None, str | None, str]], instruction: str | None
) -> None:
    steps = []
    for i, (kind, app, url, text) in enumerate(raw):
        action = GuiAction(type=kind, x=1, y=1, target=GuiTarget(text=text) if text else None)  # type: ignore[arg-type]
        steps.append(step(i, action, app=app, url=url, instruction=instruction))
    anchors = SegmentationExtractor()(window(steps))
    assert partition_problems(spans_of(anchors), len(steps)) == []
    assert label_of(anchors) in {"none", "sequential", "parallel", "hybrid"}
    assert all(a.content for a in anchors if a.type == "subtask")
