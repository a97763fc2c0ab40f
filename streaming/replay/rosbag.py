"""ROS bags (MCAP, rosbag2 sqlite3 / MCAP folders, ROS 1) -> RobotStep records (docs/formats/rosbag.md).

Steps are made the way RLDS episodes look: every message of the step topic (by default the first camera)
is one step, carrying the latest message at or before it of every other camera, the state and action
topics, the gripper joint and the instruction (zero-order hold, in log order). A step's image of the step
camera is that message's own frame. Choices:

- steps before the first message of every state topic are skipped (counted): a step needs its state.
  The action is empty until every action topic has published;
- messages of topics the plan does not use are counted and skipped, without decoding them;
- a bag is one episode, id `<bag name>`, unless `episode_gap_s` splits it at pauses; an episode is
  handed out only once complete (all its steps checked first), like the other robot readers;
- a damaged bag (cut short, bad chunk, undecodable message) ends the replay with a ReplayError, after the
  steps made of the messages before the damage: the episode in progress ends at its last such step.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from core.records import MediaRef, RobotStep
from streaming.replay.base import ReplayError, ReplayEvent, ReplaySource
from streaming.replay.checks import check_text, finite_scalar, finite_vector, sanitize_id
from streaming.replay.robot_steps import RobotStepDraft, emit_episode
from streaming.replay.rosbag_io import Bag, looks_like_bag, open_bag
from streaming.replay.rosbag_messages import (
    JOINT_STATE,
    UnsupportedImage,
    Vector,
    camera_frame,
    header_ns,
    joint_position,
    text,
    vector,
)
from streaming.replay.rosbag_topics import TopicPlan, plan_topics

log = logging.getLogger(__name__)


class RosbagSource(ReplaySource):
    kind: ClassVar = "robot"
    record_type: ClassVar = RobotStep
    format_name: ClassVar[str] = "rosbag"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skipped: Counter[tuple[str, str]] = Counter()
        """(reason, topic) -> messages skipped by the last `events`: `unmapped`, `before_state`, ..."""

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return looks_like_bag(path)

    def events(self, t0: float, rate: float) -> Iterator[ReplayEvent]:
        self.skipped = Counter()
        name = self.path.name if self.path.is_dir() else self.path.stem
        with open_bag(self.path) as bag:
            plan = plan_topics(bag.topics, self.config.rosbag, str(self.path))
            maker = _StepMaker(self, bag, plan, sanitize_id(name, "bag"))
            messages = bag.messages()
            damage: ReplayError | None = None
            while True:
                try:
                    item = next(messages, None)
                    if item is None:
                        break
                    maker.add(*item)
                except ReplayError as exc:  # keep what came before the damage, then report it
                    damage = exc
                    break
                for drafts in maker.finished():
                    yield from emit_episode(drafts, t0, rate)
            for drafts in maker.close():
                yield from emit_episode(drafts, t0, rate)
        skipped = ", ".join(f"{reason} {topic}: {n}" for (reason, topic), n in sorted(self.skipped.items()))
        log.info(
            "%s (%s%s): %d steps in %d episodes; skipped messages: %s",
            self.path,
            bag.storage,
            ", salvaged" if bag.salvaged else "",
            maker.steps,
            maker.episodes,
            skipped or "none",
        )
        if damage is not None:
            raise ReplayError(
                damage.reason, f"{damage.detail}; the {maker.steps} steps before the damage were replayed"
            )


class _StepMaker:
    """Messages in log order -> step drafts, grouped into finished episodes."""

    def __init__(self, source: RosbagSource, bag: Bag, plan: TopicPlan, bag_id: str) -> None:
        self.source = source
        self.bag = bag
        self.plan = plan
        self.mapping = source.config.rosbag
        self.bag_id = bag_id
        self.used = plan.used()
        self.vectors: dict[str, Vector] = {}
        self.frames: dict[str, Any] = {}  # camera topic -> its latest message
        self.refs: dict[str, MediaRef | None] = {}  # camera topic -> that message encoded (once)
        self.instruction: str | None = None
        self.gripper: float | None = None
        self.gripper_joint = self.mapping.gripper_joint
        self.pending: list[tuple[int, Any]] = []  # step messages of the current log instant
        self.now: int | None = None
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.open: list[RobotStepDraft] = []
        self.done: list[list[RobotStepDraft]] = []
        self.steps = 0
        self.episodes = 0

    def add(self, topic: str, log_ns: int, raw: bytes) -> None:
        if topic not in self.used:
            self.source.skipped["unmapped", topic] += 1
            return
        if self.now is not None and log_ns > self.now:
            self._make_steps()  # everything logged at the previous instant is in: its steps see it
        self.now = log_ns if self.now is None else max(self.now, log_ns)
        msg = self.bag.deserialize(raw, topic)
        msgtype = self.bag.topics[topic]
        what = f"{self.source.path} {topic}"
        if topic in self.plan.cameras and topic != self.plan.step_topic:
            self.frames[topic] = msg
            self.refs.pop(topic, None)
        if topic in self.plan.state or topic in self.plan.action:
            got = vector(msg, msgtype, topic)
            values = finite_vector(got.values, what, self.source.limits)
            self.vectors[topic] = Vector(values, got.names)
        if topic in self.plan.gripper_topics and msgtype == JOINT_STATE:
            self._gripper(msg, what)
        if topic == self.plan.instruction:
            self.instruction = check_text(text(msg).strip() or None, what, self.source.limits)
        if topic == self.plan.step_topic:
            self.pending.append((self._step_ns(msg, log_ns, topic), msg))

    def finished(self) -> list[list[RobotStepDraft]]:
        done, self.done = self.done, []
        return done

    def close(self) -> list[list[RobotStepDraft]]:
        self._make_steps()
        self._end_episode()
        if self.mapping.gripper_joint and self.gripper is None:
            log.warning(
                "%s: gripper joint %r not found in %s",
                self.source.path,
                self.gripper_joint,
                self.plan.gripper_topics,
            )
        return self.finished()

    def _gripper(self, msg: Any, what: str) -> None:
        if self.gripper_joint is None:  # auto: the one joint named like a gripper, fixed at first sight
            named = [str(n) for n in msg.name if "gripper" in str(n).lower()]
            if len(named) != 1:
                return
            self.gripper_joint = named[0]
        value = joint_position(msg, self.gripper_joint)
        if value is not None:
            self.gripper = finite_scalar(value, f"{what} joint {self.gripper_joint}")

    def _step_ns(self, msg: Any, log_ns: int, topic: str) -> int:
        if self.mapping.timestamps == "log":
            return log_ns
        stamp = header_ns(msg)
        if stamp is None:  # Twist, Float64MultiArray ...: no header, the log time is all there is
            return log_ns
        if stamp == 0:
            raise ReplayError(
                "bad_timestamp",
                f"{self.source.path}: {topic} has unset header stamps; use timestamps = 'log'",
            )
        return stamp

    def _make_steps(self) -> None:
        pending, self.pending = self.pending, []
        for step_ns, msg in pending:
            self._step(step_ns, msg)

    def _step(self, step_ns: int, msg: Any) -> None:
        step_topic = self.plan.step_topic
        if any(t not in self.vectors for t in self.plan.state):
            self.source.skipped["before_state", step_topic] += 1
            return
        if self.last_ns is not None and step_ns <= self.last_ns:
            self.source.skipped["out_of_order", step_topic] += 1
            return
        gap = self.mapping.episode_gap_s
        if self.last_ns is not None and gap is not None and (step_ns - self.last_ns) / 1e9 > gap:
            self._end_episode()
        self.first_ns = step_ns if self.first_ns is None else self.first_ns
        self.last_ns = step_ns
        cameras = {}
        for topic, name in sorted(self.plan.cameras.items(), key=lambda kv: kv[1]):
            ref = self._encode(topic, msg) if topic == step_topic else self._latest(topic)
            if ref is not None:
                cameras[name] = ref
        state = [v for t in self.plan.state for v in self.vectors[t].values]
        has_action = all(t in self.vectors for t in self.plan.action)
        action = [v for t in self.plan.action for v in self.vectors[t].values] if has_action else []
        episode_id = self.bag_id if gap is None else f"{self.bag_id}:{self.episodes:05d}"
        self.open.append(
            RobotStepDraft(
                episode_id=episode_id,
                step_index=len(self.open),
                at_s=(step_ns - self.first_ns) / 1e9,
                state=state,
                action=action,
                gripper=self.gripper,
                cameras=cameras,
                instruction=self.instruction,
                state_names=[n for t in self.plan.state for n in self.vectors[t].names] or None,
                action_names=[n for t in self.plan.action for n in self.vectors[t].names] if action else None,
                source=self.source.path.name[:500],
            )
        )

    def _latest(self, topic: str) -> MediaRef | None:
        if topic not in self.frames:
            return None
        if topic not in self.refs:
            self.refs[topic] = self._encode(topic, self.frames[topic])
        return self.refs[topic]

    def _encode(self, topic: str, msg: Any) -> MediaRef | None:
        try:
            frame = camera_frame(
                msg,
                self.bag.topics[topic],
                raw_format=self.mapping.raw_images,
                jpeg_quality=self.source.config.jpeg_quality,
                limits=self.source.limits,
                what=f"{self.source.path} {topic}",
            )
        except UnsupportedImage as exc:
            self.source.skipped[exc.reason, topic] += 1
            return None
        return self.source.media(frame.data, frame.media_type, frame.width, frame.height)

    def _end_episode(self) -> None:
        if not self.open:
            return
        last = len(self.open) - 1
        self.done.append(
            [dataclasses.replace(d, is_first=i == 0, is_last=i == last) for i, d in enumerate(self.open)]
        )
        self.steps += len(self.open)
        self.episodes += 1
        self.open = []
