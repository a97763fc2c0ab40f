"""Which fields of an RLDS TFRecord or a LeRobot folder are cameras, state, action, gripper and instruction:
the `[rlds]` and `[lerobot]` tables of a `tailor replay --mapping` file (docs/formats/mapping.md).

Same shape as the ROS bag mapping (rosbag_config.py): every field is optional, and what a file leaves out
keeps the defaults, which are the readers' behaviour without any file (the Bridge and UMI layouts).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CAMERA_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,99}$"

RLDS_STATE_KEYS = ("steps/observation/state", "steps/observation/proprio", "steps/observation/joint_state")
RLDS_INSTRUCTION_KEYS = (
    "steps/language_instruction",
    "steps/observation/natural_language_instruction",
    "episode_metadata/language_instruction",
)


def _cameras(cameras: dict[str, str] | None) -> dict[str, str] | None:
    if cameras is None:
        return None
    if not cameras:
        raise ValueError("cameras is empty; leave it out to take every camera")
    for name, key in cameras.items():
        if not re.match(CAMERA_NAME, name):
            raise ValueError(f"camera name {name!r} must match {CAMERA_NAME}")
        if not key:
            raise ValueError(f"camera {name!r} has an empty key")
    if len(set(cameras.values())) != len(cameras):
        raise ValueError("two cameras name the same key")
    return cameras


def _keys(keys: list[str] | None) -> list[str] | None:
    if keys is not None and (not keys or any(not k for k in keys)):
        raise ValueError("list one key or more (leave the field out for the default)")
    if keys is not None and len(set(keys)) != len(keys):
        raise ValueError("a key is listed twice")
    return keys


class RldsMapping(BaseModel):
    """Feature names are the flattened TFDS names, as stored in the file: `steps/observation/image_0`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cameras: dict[str, str] | None = Field(
        default=None,
        description="Camera name -> per-step image feature (JPEG or PNG bytes). Unset: every "
        "`steps/observation/<name>` feature holding images, named `<name>`.",
    )
    skip_black_frames: bool = Field(
        default=True,
        description="Leave out camera images that are entirely black (an empty camera slot, Bridge's "
        "`image_3`), frame by frame.",
    )
    state: list[str] | None = Field(
        default=None,
        description="Per-step float features concatenated, in this order, into the state vector. Unset: "
        "the first of " + ", ".join(f"`{k}`" for k in RLDS_STATE_KEYS) + " that the episode has.",
    )
    action: list[str] = Field(
        default=["steps/action"],
        description="Per-step float features concatenated, in this order, into the action vector.",
    )
    gripper: Literal["action", "state", "none"] = Field(
        default="action", description="Which vector holds the gripper channel (`none`: no gripper)."
    )
    gripper_index: int = Field(
        default=-1,
        description="Index of the gripper channel in that vector; negative counts from the end (Bridge's "
        "action is 6 end-effector deltas, then the gripper: -1).",
    )
    instruction: list[str] = Field(
        default=list(RLDS_INSTRUCTION_KEYS),
        description="Bytes features holding the language instruction, tried in order; a per-step feature "
        "gives each step its text, an episode-level one (`episode_metadata/...`) gives every step the same.",
    )
    is_first: str = Field(default="steps/is_first", description="Per-step flag of an episode's first step.")
    is_last: str = Field(
        default="steps/is_last",
        description="Per-step flag of an episode's last step (the final step present is always last).",
    )

    @field_validator("cameras")
    @classmethod
    def _check_cameras(cls, cameras: dict[str, str] | None) -> dict[str, str] | None:
        return _cameras(cameras)

    @field_validator("state", "action", "instruction")
    @classmethod
    def _check_keys(cls, keys: list[str] | None) -> list[str] | None:
        return _keys(keys)


class LeRobotMapping(BaseModel):
    """Column and feature names as in the dataset: `observation.state`, `observation.images.wrist`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cameras: dict[str, str] | None = Field(
        default=None,
        description="Camera name -> video or image feature (v2/v3: a `features` key of meta/info.json; the "
        "early arrow layout: a {path, timestamp} column). Unset: every one, named by its key.",
    )
    state: list[str] = Field(
        default=["observation.state"],
        description="Numeric columns concatenated, in this order, into the state vector.",
    )
    action: list[str] | None = Field(
        default=None,
        description="Numeric columns concatenated, in this order, into the action vector. Unset: the "
        "`action` column, or when there is none the state difference (state[t+1] - state[t]).",
    )
    gripper_column: str | None = Field(
        default=None,
        description="Numeric column whose first value is the gripper. Unset (and no gripper_index): "
        "`gripper_width` in the early arrow layout; in v2/v3 the action (else state) channel whose name "
        "contains `gripper`.",
    )
    gripper_index: int | None = Field(
        default=None,
        description="Index of the gripper channel in the vector named by `gripper_of`; negative counts "
        "from the end. Exclusive with gripper_column.",
    )
    gripper_of: Literal["action", "state"] = Field(
        default="action", description="The vector gripper_index points into."
    )
    timestamp: str = Field(default="timestamp", description="Column of each row's time in seconds.")
    episode_index: str = Field(default="episode_index", description="Column of each row's episode number.")
    frame_index: str = Field(
        default="frame_index", description="Column of each row's frame number (checked to increase)."
    )
    task_index: str = Field(
        default="task_index", description="v2/v3: column of each row's task (meta/tasks), the instruction."
    )

    @field_validator("cameras")
    @classmethod
    def _check_cameras(cls, cameras: dict[str, str] | None) -> dict[str, str] | None:
        return _cameras(cameras)

    @field_validator("state", "action")
    @classmethod
    def _check_keys(cls, keys: list[str] | None) -> list[str] | None:
        return _keys(keys)

    @model_validator(mode="after")
    def _one_gripper(self) -> LeRobotMapping:
        if self.gripper_column is not None and self.gripper_index is not None:
            raise ValueError("set gripper_column or gripper_index, not both")
        return self
