"""Which topic of a bag is which part of a robot step: the mapping file's choices, defaults for the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streaming.replay.base import ReplayError
from streaming.replay.rosbag_config import RosbagMapping
from streaming.replay.rosbag_messages import (
    CAMERA_TYPES,
    JOINT_STATE,
    POSE_TYPES,
    STRING,
    TWIST_TYPES,
    VECTOR_TYPES,
    camera_name,
)

_INSTRUCTION_WORDS = ("instruction", "language", "task")


@dataclass(frozen=True)
class TopicPlan:
    cameras: dict[str, str]
    """topic -> camera name."""
    state: list[str]
    action: list[str]
    instruction: str | None
    step_topic: str
    gripper_topics: list[str]
    """JointState topics searched for the gripper joint."""

    def used(self) -> set[str]:
        return {*self.cameras, *self.state, *self.action, *self.gripper_topics} | (
            {self.instruction} if self.instruction else set()
        )


def plan_topics(topics: dict[str, str], mapping: RosbagMapping, what: str) -> TopicPlan:
    """The plan for a bag with `topics` (topic -> type); ReplayError for a mapping that does not fit it."""
    for topic, field in mapping.named_topics().items():
        if topic not in topics:
            raise ReplayError(
                "mapping_mismatch",
                f"{what}: the mapping's {field} names {topic}, which the bag does not have; "
                f"its topics: {_listing(topics)}",
            )
    cameras = _cameras(topics, mapping)
    # a default never takes a topic the mapping gives to another part
    taken = {*cameras, *(mapping.state or []), *(mapping.action or []), mapping.instruction or ""}
    state = mapping.state if mapping.state is not None else _auto_state(topics, taken, what)
    taken |= set(state)
    action = (
        mapping.action
        if mapping.action is not None
        else _one(_of(topics, TWIST_TYPES, taken), "cmd_vel", "Twist", "action", what)
    )
    instruction = mapping.instruction or _auto_instruction(topics, taken | set(action), what)
    _check_types(topics, list(cameras), CAMERA_TYPES, "a camera", what)
    _check_types(topics, state, VECTOR_TYPES, "state", what)
    _check_types(topics, action, VECTOR_TYPES, "action", what)
    if instruction:
        _check_types(topics, [instruction], (STRING,), "the instruction", what)
    _check_disjoint(list(cameras), state, action, [instruction] if instruction else [], what=what)
    step_topic = mapping.step_topic or _default_step_topic(cameras, state, action, topics, what)
    if step_topic not in {*cameras, *state, *action}:
        raise ReplayError(
            "mapping_mismatch", f"{what}: step_topic {step_topic} must be a camera, state or action topic"
        )
    if mapping.gripper_topic is not None:
        _check_types(topics, [mapping.gripper_topic], (JOINT_STATE,), "gripper_topic", what)
        gripper_topics = [mapping.gripper_topic]
    else:
        gripper_topics = [t for t in state if topics[t] == JOINT_STATE]
    return TopicPlan(cameras, state, action, instruction, step_topic, gripper_topics)


def _listing(topics: dict[str, str]) -> str:
    return ", ".join(f"{t} ({m})" for t, m in sorted(topics.items())) or "none"


def _of(topics: dict[str, str], types: Sequence[str], taken: set[str]) -> list[str]:
    return sorted(t for t, m in topics.items() if m in types and t not in taken)


def _leaf(topic: str) -> str:
    return ([p for p in topic.split("/") if p] or [""])[-1]


def _one(candidates: list[str], preferred: str, kind: str, role: str, what: str) -> list[str]:
    """The only candidate, or the one whose last name segment is `preferred`; none -> []."""
    if len(candidates) <= 1:
        return candidates
    named = [t for t in candidates if _leaf(t) == preferred]
    if len(named) == 1:
        return named
    raise ReplayError(
        "ambiguous_topics",
        f"{what}: {len(candidates)} {kind} topics ({', '.join(candidates)}) could be the {role}; "
        f"name the {role} topics in a --mapping file",
    )


def _cameras(topics: dict[str, str], mapping: RosbagMapping) -> dict[str, str]:
    if mapping.cameras is not None:
        return {topic: name for name, topic in mapping.cameras.items()}
    found = _of(topics, CAMERA_TYPES, set())
    names = {t: camera_name(t) for t in found}
    clash = {n for n in names.values() if list(names.values()).count(n) > 1}
    # e.g. /cam/image_raw and /cam/image_raw/compressed both recorded: keep both, named by the whole topic
    return {t: camera_name(t.replace("/", "_")) if n in clash else n for t, n in names.items()}


def _auto_state(topics: dict[str, str], taken: set[str], what: str) -> list[str]:
    joints = _one(_of(topics, (JOINT_STATE,), taken), "joint_states", "JointState", "state", what)
    poses = _one(_of(topics, POSE_TYPES, taken), "pose", "Pose", "state", what)
    return joints + poses


def _auto_instruction(topics: dict[str, str], taken: set[str], what: str) -> str | None:
    # a bag's other String topics (robot_description, status lines) are not instructions: go by name
    named = [
        t for t in _of(topics, (STRING,), taken) if any(w in _leaf(t).lower() for w in _INSTRUCTION_WORDS)
    ]
    return _one(named, "instruction", "String", "instruction", what)[0] if named else None


def _check_types(
    topics: dict[str, str], chosen: Sequence[str], types: Sequence[str], role: str, what: str
) -> None:
    for topic in chosen:
        if topics[topic] not in types:
            raise ReplayError(
                "mapping_mismatch",
                f"{what}: {topic} is {topics[topic]}, which cannot be {role} (takes {', '.join(types)})",
            )


def _check_disjoint(*groups: list[str], what: str) -> None:
    seen: set[str] = set()
    for group in groups:
        for topic in group:
            if topic in seen:
                raise ReplayError("mapping_mismatch", f"{what}: {topic} is mapped to two parts of the step")
            seen.add(topic)


def _default_step_topic(
    cameras: dict[str, str], state: list[str], action: list[str], topics: dict[str, str], what: str
) -> str:
    if cameras:
        return min(cameras, key=lambda t: (cameras[t], t))
    if state or action:
        return (state or action)[0]
    raise ReplayError(
        "no_steps", f"{what}: no camera, state or action topic to make steps of; topics: {_listing(topics)}"
    )
