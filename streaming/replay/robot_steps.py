"""A robot step fully read and checked, waiting only for its replay wall-clock time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from core.records import MediaRef, RobotStep
from streaming.replay.base import ReplayEvent, build_all, wall_time
from streaming.replay.checks import check_increasing


@dataclass(frozen=True)
class RobotStepDraft:
    episode_id: str
    step_index: int
    at_s: float
    state: list[float]
    action: list[float]
    gripper: float | None = None
    cameras: dict[str, MediaRef] = field(default_factory=dict)
    instruction: str | None = None
    state_names: list[str] | None = None
    action_names: list[str] | None = None
    is_first: bool = False
    is_last: bool = False
    source: str | None = None

    def build(self, timestamp: float) -> RobotStep:
        return RobotStep(
            episode_id=self.episode_id,
            step_index=self.step_index,
            timestamp=timestamp,
            state=self.state,
            action=self.action,
            state_names=self.state_names,
            action_names=self.action_names,
            gripper=self.gripper,
            cameras=self.cameras,
            instruction=self.instruction,
            is_first=self.is_first,
            is_last=self.is_last,
            source=self.source,
        )


def emit_episode(drafts: Sequence[RobotStepDraft], t0: float, rate: float) -> Iterator[ReplayEvent]:
    """Events of one fully read episode, after checking its steps and times strictly increase."""
    if not drafts:
        return
    what = f"episode {drafts[0].episode_id}"
    check_increasing([d.step_index for d in drafts], f"{what} steps")
    check_increasing([d.at_s for d in drafts], f"{what} times")
    yield from build_all(drafts, lambda d: d.build(wall_time(t0, d.at_s, rate)), what)
