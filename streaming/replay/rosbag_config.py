"""How a ROS bag's topics become robot steps: the `--mapping` file of `tailor replay` (docs/formats/rosbag.md).

Every field is optional; unset fields take the defaults, which read standard messages without any file.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import TailorError

CAMERA_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}$"


class RosbagMapping(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cameras: dict[str, str] | None = Field(
        default=None,
        description="Camera name -> topic (sensor_msgs/Image or CompressedImage). Unset: every image topic, "
        "named after its topic without the leading slash and image suffixes (`/wrist/image_raw` -> `wrist`).",
    )
    state: list[str] | None = Field(
        default=None,
        description="Topics whose values, concatenated in this order, make the state vector. Unset: the "
        "JointState topic (`/joint_states` when there are several), then the PoseStamped / Pose topic.",
    )
    action: list[str] | None = Field(
        default=None,
        description="Topics whose values, concatenated in this order, make the action vector. Unset: the "
        "Twist / TwistStamped topic (`/cmd_vel` when there are several).",
    )
    instruction: str | None = Field(
        default=None,
        description="std_msgs/String topic of the language instruction. Unset: the String topic whose name "
        "contains `instruction`, `language` or `task` (other String topics, e.g. robot_description, are not).",
    )
    step_topic: str | None = Field(
        default=None,
        description="Topic whose every message makes one robot step. Unset: the first camera by name, or "
        "the first state topic when the bag has no camera.",
    )
    gripper_joint: str | None = Field(
        default=None,
        description="JointState joint whose position is the step's gripper. Unset: the one joint of the "
        "gripper topic whose name contains `gripper`, if exactly one does; else no gripper.",
    )
    gripper_topic: str | None = Field(
        default=None,
        description="JointState topic holding `gripper_joint` (it may also be a state or action topic). "
        "Unset: the JointState topics of the state.",
    )
    timestamps: Literal["log", "header"] = Field(
        default="log",
        description="Step times: `log` is when the recorder logged the step message; `header` is its "
        "header stamp (messages without a header keep the log time). Pairing always follows log order.",
    )
    raw_images: Literal["jpeg", "png"] = Field(
        default="jpeg",
        description="How raw sensor_msgs/Image frames are stored: JPEG at `jpeg_quality` like the other "
        "robot readers, or lossless PNG. 16-bit images are always PNG; CompressedImage bytes pass as they are.",
    )
    episode_gap_s: float | None = Field(
        default=None,
        gt=0,
        description="A pause longer than this between two steps starts a new episode (ids `<bag>:00000`, "
        "...). Unset: the whole bag is one episode, id `<bag>`.",
    )

    @field_validator("cameras")
    @classmethod
    def _camera_names(cls, cameras: dict[str, str] | None) -> dict[str, str] | None:
        if cameras is None:
            return None
        if not cameras:
            raise ValueError("cameras is empty; leave it out to take every image topic")
        for name, topic in cameras.items():
            if not re.match(CAMERA_NAME, name):
                raise ValueError(f"camera name {name!r} must match {CAMERA_NAME}")
            if not topic:
                raise ValueError(f"camera {name!r} has an empty topic")
        if len(set(cameras.values())) != len(cameras):
            raise ValueError("two cameras name the same topic")
        return cameras

    @field_validator("state", "action")
    @classmethod
    def _topic_lists(cls, topics: list[str] | None) -> list[str] | None:
        if topics is not None and (not topics or any(not t for t in topics)):
            raise ValueError("list one topic or more (leave the field out for the default)")
        if topics is not None and len(set(topics)) != len(topics):
            raise ValueError("a topic is listed twice")
        return topics

    def named_topics(self) -> dict[str, str]:
        """Every topic the mapping names -> the field naming it (to check them against the bag)."""
        out: dict[str, str] = {}
        for name, topic in (self.cameras or {}).items():
            out[topic] = f"cameras.{name}"
        for field in ("state", "action"):
            for topic in getattr(self, field) or []:
                out.setdefault(topic, field)
        for field in ("instruction", "step_topic", "gripper_topic"):
            topic = getattr(self, field)
            if topic:
                out.setdefault(topic, field)
        return out


class MappingError(TailorError, ValueError):
    """A mapping file that cannot be used; the detail names the file and the field."""

    def __init__(self, detail: str) -> None:
        super().__init__("bad_mapping", detail)


def load_mapping(path: Path) -> RosbagMapping:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"mapping file {path}: {exc}") from None
    try:
        return RosbagMapping.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "(top level)"
        raise MappingError(f"mapping file {path}: {where}: {first.get('msg')}") from None
