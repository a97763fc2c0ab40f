"""ROS messages, as rosbags deserializes them, -> the values of a robot step: vectors, camera frames, text.

Type names are rosbags' (`sensor_msgs/msg/Image`); ROS 1 names (`sensor_msgs/Image`) are normalised to them.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from core.errors import TailorError
from core.limits_config import LimitsConfig
from streaming.replay.base import ReplayError
from streaming.replay.checks import image_size

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
JOINT_STATE = "sensor_msgs/msg/JointState"
STRING = "std_msgs/msg/String"
TWIST_TYPES = ("geometry_msgs/msg/Twist", "geometry_msgs/msg/TwistStamped")
POSE_TYPES = ("geometry_msgs/msg/Pose", "geometry_msgs/msg/PoseStamped")
ARRAY_TYPES = (
    "std_msgs/msg/Float64MultiArray",
    "std_msgs/msg/Float32MultiArray",
    "std_msgs/msg/Float64",
    "std_msgs/msg/Float32",
)
CAMERA_TYPES = (IMAGE, COMPRESSED_IMAGE)
VECTOR_TYPES = (JOINT_STATE, *TWIST_TYPES, *POSE_TYPES, *ARRAY_TYPES)

_TWIST_NAMES = ["linear_x", "linear_y", "linear_z", "angular_x", "angular_y", "angular_z"]
# x, y, z are the names the robot experts look for (agents/extractors/robot/channels.py)
_POSE_NAMES = ["x", "y", "z", "qx", "qy", "qz", "qw"]
_IMAGE_SUFFIXES = {
    "image_raw",
    "image_rect",
    "image_rect_raw",
    "image_color",
    "image_rect_color",
    "image_mono",
    "image",
    "compressed",
}
# encoding -> (channels, bytes per channel, channel order to RGB(A) or None when already so)
_RAW_ENCODINGS: dict[str, tuple[int, int, tuple[int, ...] | None]] = {
    "rgb8": (3, 1, None),
    "bgr8": (3, 1, (2, 1, 0)),
    "8UC3": (3, 1, (2, 1, 0)),  # OpenCV's default channel order
    "rgba8": (4, 1, None),
    "bgra8": (4, 1, (2, 1, 0, 3)),
    "8UC4": (4, 1, (2, 1, 0, 3)),
    "mono8": (1, 1, None),
    "8UC1": (1, 1, None),
    "mono16": (1, 2, None),
    "16UC1": (1, 2, None),  # depth in millimetres: kept exact as 16-bit PNG
}
_MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG": "image/png"}


def normalize_type(msgtype: str) -> str:
    """`sensor_msgs/Image` (ROS 1) -> `sensor_msgs/msg/Image`; ROS 2 names unchanged."""
    parts = msgtype.split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 else msgtype


@dataclass(frozen=True)
class Vector:
    values: list[float]
    names: list[str]


@dataclass(frozen=True)
class Frame:
    data: bytes
    media_type: str
    width: int
    height: int


class UnsupportedImage(TailorError):
    """A well-formed image the reader does not store (Bayer, float depth, compressedDepth): skipped, counted by
    its reason (`compressed_format:<format>`, `encoding:<encoding>`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "not stored: skipped and counted")


def header_ns(msg: Any) -> int | None:
    """The header stamp in nanoseconds, None for messages without a header."""
    header = getattr(msg, "header", None)
    if header is None:
        return None
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def vector(msg: Any, msgtype: str, topic: str) -> Vector:
    """The numbers a state / action topic contributes, with channel names."""
    leaf = [p for p in topic.split("/") if p][-1:] or ["value"]
    if msgtype == JOINT_STATE:
        values = [float(v) for v in msg.position]
        names = [str(n) for n in msg.name]
        if len(names) != len(values):  # a driver that leaves names out: keep the values, number them
            names = [f"{leaf[0]}_{i}" for i in range(len(values))]
        return Vector(values, names)
    if msgtype in TWIST_TYPES:
        twist = msg.twist if msgtype.endswith("Stamped") else msg
        lin, ang = twist.linear, twist.angular
        return Vector([lin.x, lin.y, lin.z, ang.x, ang.y, ang.z], list(_TWIST_NAMES))
    if msgtype in POSE_TYPES:
        pose = msg.pose if msgtype.endswith("Stamped") else msg
        p, q = pose.position, pose.orientation
        return Vector([p.x, p.y, p.z, q.x, q.y, q.z, q.w], list(_POSE_NAMES))
    if msgtype in ARRAY_TYPES:
        data = np.atleast_1d(np.asarray(msg.data, dtype=np.float64))
        return Vector([float(v) for v in data], [f"{leaf[0]}_{i}" for i in range(len(data))])
    raise ValueError(f"{msgtype} is not a vector type")


def joint_position(msg: Any, joint: str) -> float | None:
    """Position of the named joint in a JointState, None when the message does not carry it."""
    names = list(msg.name)
    if joint not in names or names.index(joint) >= len(msg.position):
        return None
    return float(msg.position[names.index(joint)])


def camera_name(topic: str) -> str:
    """`/wrist/image_raw` -> `wrist`, `/cam/color/image_raw/compressed` -> `cam_color`."""
    parts = [p for p in topic.split("/") if p]
    while len(parts) > 1 and parts[-1] in _IMAGE_SUFFIXES:
        parts.pop()
    name = re.sub(r"[^A-Za-z0-9_.:-]", "_", "_".join(parts))[:100] or "camera"
    return name if re.match(r"[A-Za-z0-9_]", name) else f"_{name}"[:100]


def camera_frame(
    msg: Any,
    msgtype: str,
    *,
    raw_format: Literal["jpeg", "png"],
    jpeg_quality: int,
    limits: LimitsConfig,
    what: str,
) -> Frame:
    """Encoded image bytes of a camera message; UnsupportedImage or ReplayError (corrupt, too large)."""
    if msgtype == COMPRESSED_IMAGE:
        data = bytes(msg.data)
        media_type = next((t for magic, t in _MAGIC.items() if data.startswith(magic)), None)
        if media_type is None:  # e.g. compressedDepth, whose PNG follows a 12-byte header
            raise UnsupportedImage(f"compressed_format:{str(msg.format)[:40] or 'unknown'}")
        width, height = image_size(data, what, limits)
        return Frame(data, media_type, width, height)
    return _encode_raw(msg, raw_format, jpeg_quality, limits, what)


def _encode_raw(
    msg: Any, raw_format: Literal["jpeg", "png"], quality: int, limits: LimitsConfig, what: str
) -> Frame:
    encoding = str(msg.encoding)
    if encoding not in _RAW_ENCODINGS:
        raise UnsupportedImage(f"encoding:{encoding[:40]}")
    channels, depth, order = _RAW_ENCODINGS[encoding]
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    if width <= 0 or height <= 0:
        raise ReplayError("corrupt_image", f"{what}: declares {width}x{height}")
    if width * height > limits.max_image_pixels:
        raise ReplayError(
            "image_too_large", f"{what}: {width}x{height} > cap of {limits.max_image_pixels} pixels"
        )
    row = width * channels * depth
    data = np.asarray(msg.data, dtype=np.uint8)
    if step < row or data.size < step * height:
        raise ReplayError(
            "corrupt_image",
            f"{what}: {encoding} {width}x{height} step {step} needs {max(step, row) * height} bytes, "
            f"has {data.size}",
        )
    rows = data[: step * height].reshape(height, step)[:, :row]  # drop the row padding
    if depth == 2:
        big = bool(msg.is_bigendian)
        words = np.ascontiguousarray(rows).view(">u2" if big else "<u2").reshape(height, width)
        image = Image.fromarray(words.astype("<u2"))  # mode I;16
        return Frame(_save(image, "PNG", quality), "image/png", width, height)
    pixels: np.ndarray = (
        rows.reshape(height, width, channels) if channels > 1 else rows.reshape(height, width)
    )
    if order is not None:
        pixels = pixels[..., list(order)]
    image = Image.fromarray(np.ascontiguousarray(pixels))  # L, RGB or RGBA
    if raw_format == "png":
        return Frame(_save(image, "PNG", quality), "image/png", width, height)
    if image.mode == "RGBA":  # JPEG has no alpha; camera alpha channels carry nothing
        image = image.convert("RGB")
    return Frame(_save(image, "JPEG", quality), "image/jpeg", width, height)


def _save(image: Image.Image, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        image.save(buf, format="JPEG", quality=quality)
    else:
        image.save(buf, format="PNG")
    return buf.getvalue()


def text(msg: Any) -> str:
    return str(msg.data)
