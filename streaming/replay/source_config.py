"""Settings of the replay readers (segment length, nominal rates, image encoding, record caps, field mappings)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from streaming.replay.mapping_config import LeRobotMapping, RldsMapping
from streaming.replay.rosbag_config import RosbagMapping


class ReplaySourceConfig(BaseModel):
    segment_s: float = Field(
        default=2.0,
        gt=0,
        description="Target video segment length in seconds; cut at the first key frame at or after it.",
    )
    max_gop_s: float | None = Field(
        default=8.0,
        gt=0,
        description="A video whose key frames are further apart than this is re-encoded (H.264) into "
        "segments of segment_s, so video windows keep their size; None: always cut at the source's key "
        "frames (stream copy), and a window may overrun its length by one key-frame interval.",
    )
    robot_fps: float = Field(
        default=10.0, gt=0, description="Nominal control rate of robot recordings that carry no timestamps."
    )
    gui_step_interval_s: float = Field(
        default=1.0, gt=0, description="Nominal seconds between GUI steps when a recording has no timing."
    )
    jpeg_quality: int = Field(
        default=90, ge=1, le=100, description="JPEG quality of camera frames cut from robot episode videos."
    )
    verify_tfrecord_crc: bool = Field(
        default=True,
        description="Check the masked CRC32C of every TFRecord payload (lengths are always checked).",
    )
    max_tfrecord_record_bytes: int = Field(
        default=256 * 1024 * 1024, gt=0, description="Largest single TFRecord record accepted, in bytes."
    )
    frame_match_tolerance_s: float = Field(
        default=0.05,
        ge=0,
        description="Largest gap between a robot step's timestamp and the video frame used as its image.",
    )
    rosbag: RosbagMapping = Field(
        default_factory=RosbagMapping,
        description="Which topics of a ROS bag are cameras, state, action and instruction (`--mapping`).",
    )
    rlds: RldsMapping = Field(
        default_factory=RldsMapping,
        description="Which RLDS TFRecord features are cameras, state, action, gripper and instruction.",
    )
    lerobot: LeRobotMapping = Field(
        default_factory=LeRobotMapping,
        description="Which LeRobot columns and video keys are cameras, state, action and gripper.",
    )
