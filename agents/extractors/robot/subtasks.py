"""Robot subtask boundary expert: cut the episode at gripper events and long pauses.

Phases by gripper state: `reach` (open, before the first grasp), `carry` (closed), `release`
(open again after a grasp), and `pause` for long still runs. The spans cover every step once;
an `instruction` anchor carries the episode's language instruction over the whole window.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from agents.extractors.base import Extractor, ExtractorError
from agents.extractors.gui.spans import anchor_id, merge_labelled, partition_problems, spans_from_cuts
from agents.extractors.robot.channels import positions
from agents.extractors.robot.gripper import GripperTrack, gripper_track
from agents.extractors.robot.stall import still_runs, tail_start
from agents.extractors.robot.subtasks_config import SubtaskConfig
from agents.extractors.robot.window import RobotWindow
from core.records import Anchor

log = logging.getLogger(__name__)


def phase_at(index: int, track: GripperTrack | None) -> str:
    if track is None:
        return "move"
    if track.closed_at(index):
        return "carry"
    grasped_before = any(kind == "close" for i, kind in track.events if i <= index) or not track.starts_open
    return "release" if grasped_before else "reach"


def labelled_spans(
    n: int, track: GripperTrack | None, pauses: Sequence[tuple[int, int]]
) -> list[tuple[int, int, str]]:
    """Contiguous labelled spans over 0..n-1, cut at every gripper event and pause edge."""
    cuts: set[int] = set()
    if track is not None:
        cuts |= {i for i, _ in track.events}
    for first, last in pauses:
        cuts |= {first, last + 1}
    spans: list[tuple[int, int, str]] = []
    for start, end in spans_from_cuts(cuts, n):
        in_pause = any(first <= start and end <= last for first, last in pauses)
        spans.append((start, end, "pause" if in_pause else phase_at(start, track)))
    return merge_labelled(spans)


class SubtaskBoundaryExtractor(Extractor[RobotWindow]):
    """`subtask` spans covering the window (content = phase) plus one `instruction` anchor."""

    name = "robot_subtask"

    def __init__(self, config: SubtaskConfig | None = None) -> None:
        self.config = config or SubtaskConfig()

    def extract(self, window: RobotWindow) -> list[Anchor]:
        steps = window.steps
        n = len(steps)
        if n == 0:
            return []
        cfg = self.config
        track = gripper_track(steps, cfg.gripper)
        pos = positions(steps, cfg.stall.channels)
        cutoff = tail_start(n, cfg.stall)
        pauses = (
            []
            if pos is None
            else [
                (first, last)
                for first, last, _ in still_runs(pos, cfg.stall)
                if last - first + 1 >= cfg.pause_steps and last < cutoff
            ]
        )
        spans = labelled_spans(n, track, pauses)
        problems = partition_problems([(a, b) for a, b, _ in spans], n)
        if problems:  # cannot happen by construction; guard the contract all the same
            raise ExtractorError(self.name, "bad_partition", ",".join(problems))
        anchors = [
            Anchor(
                anchor_id=anchor_id(self.name, "subtask", start, end),
                type="subtask",
                frame_index=start,
                timestamp=steps[start].timestamp,
                end_frame_index=end,
                end_timestamp=steps[end].timestamp,
                content=label,
                evidence_frames=sorted({start, end}),
            )
            for start, end, label in spans
        ]
        instruction = window.instruction
        if instruction:
            anchors.append(
                Anchor(
                    anchor_id=anchor_id(self.name, "instruction", 0, n - 1),
                    type="instruction",
                    frame_index=0,
                    timestamp=steps[0].timestamp,
                    end_frame_index=n - 1,
                    end_timestamp=steps[-1].timestamp,
                    content=instruction,
                )
            )
        return anchors
