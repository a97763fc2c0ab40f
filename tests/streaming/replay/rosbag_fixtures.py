"""ROS bags written from the real BridgeData V2 episodes, as read by the project's own RLDS reader.

No real MCAP recording is reachable offline, so the bags are made of real data: every Bridge step
becomes the ROS 2 messages a WidowX recorder would log at the step's time (10 Hz, a 2 s pause between
episodes, as the robot resets):

- `/image_0/compressed` sensor_msgs/CompressedImage: the step's JPEG bytes, as they are;
- `/image_1/image_raw` sensor_msgs/Image rgb8 and `/image_2/image_raw` bgr8 (as many camera drivers
  publish): the JPEG decoded;
- `/joint_states` sensor_msgs/JointState: the 7-d state (Bridge's end-effector pose and gripper opening)
  under the names x y z roll pitch yaw gripper;
- `/action/twist` geometry_msgs/Twist: the action's 6 end-effector deltas; `/action/gripper`
  sensor_msgs/JointState: its gripper command (joint `gripper`);
- `/instruction` std_msgs/String: the instruction, once at the episode's first step;
- `/rosout` rcl_interfaces/msg/Log: one line per episode, a topic no reader part uses.

Header stamps lag the log time by 5-17 ms (exposure to logging), so the two clocks differ step to step.
Bags are written in tmp folders by the tests; nothing here is committed as data.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Ros2Writer
from rosbags.typesys import Stores, get_typestore

from core.limits_config import LimitsConfig
from core.records import RobotStep
from streaming.replay.bridge import RldsTfrecordSource
from tests.streaming.replay.conftest import RecordingMedia

BRIDGE = Path("robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001")
T0_NS = 1_700_000_000 * 10**9
STEP_NS = 100_000_000
PAUSE_NS = 2_000_000_000
STATE_NAMES = ["x", "y", "z", "roll", "pitch", "yaw", "gripper"]
Storage = Literal["mcap", "sqlite3", "ros1"]

# Everything the defaults cannot know: the gripper is the commanded one (as the RLDS reader takes it),
# the action is the twist and that command together, and the pauses between demonstrations split episodes.
BRIDGE_MAPPING = """\
step_topic = "/image_0/compressed"
state = ["/joint_states"]
action = ["/action/twist", "/action/gripper"]
instruction = "/instruction"
gripper_topic = "/action/gripper"
gripper_joint = "gripper"
raw_images = "png"
episode_gap_s = 1.0

[cameras]
image_0 = "/image_0/compressed"
image_1 = "/image_1/image_raw"
image_2 = "/image_2/image_raw"
"""


def bridge_episodes(data_dir: Path) -> list[list[RobotStep]]:
    """The Bridge file's episodes, as the RLDS reader yields them (replayed from t0 = 0 at rate 1)."""
    episodes: dict[str, list[RobotStep]] = {}
    for event in RldsTfrecordSource(data_dir / BRIDGE, RecordingMedia(), LimitsConfig()).events(0.0, 1.0):
        assert isinstance(event.record, RobotStep)
        episodes.setdefault(event.key, []).append(event.record)
    return list(episodes.values())


def latency_ns(n: int) -> int:
    return (5 + n * 7 % 13) * 1_000_000


def log_times(episodes: list[list[RobotStep]]) -> list[list[int]]:
    out, clock = [], T0_NS
    for steps in episodes:
        out.append([clock + i * STEP_NS for i in range(len(steps))])
        clock += len(steps) * STEP_NS + PAUSE_NS
    return out


class _Messages:
    """Message objects of one typestore (ROS 2 Humble or ROS 1 Noetic: their headers differ)."""

    def __init__(self, ros1: bool) -> None:
        self.ros1 = ros1
        self.store = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)
        self.t = self.store.types

    def time(self, ns: int) -> Any:
        return self.t["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9)

    def header(self, ns: int, frame: str) -> Any:
        extra = {"seq": 0} if self.ros1 else {}
        return self.t["std_msgs/msg/Header"](stamp=self.time(ns), frame_id=frame, **extra)

    def vec3(self, x: float, y: float, z: float) -> Any:
        return self.t["geometry_msgs/msg/Vector3"](x=float(x), y=float(y), z=float(z))

    def joints(self, ns: int, names: list[str], values: list[float]) -> Any:
        empty = np.zeros(0, dtype=np.float64)
        return self.t["sensor_msgs/msg/JointState"](
            header=self.header(ns, "base"),
            name=names,
            position=np.asarray(values, dtype=np.float64),
            velocity=empty,
            effort=empty,
        )

    def raw_image(self, ns: int, frame: str, jpeg: bytes, encoding: str) -> Any:
        rgb = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
        pixels = rgb[..., ::-1] if encoding == "bgr8" else rgb
        h, w, _ = pixels.shape
        return self.t["sensor_msgs/msg/Image"](
            header=self.header(ns, frame),
            height=h,
            width=w,
            encoding=encoding,
            is_bigendian=0,
            step=w * 3,
            data=np.ascontiguousarray(pixels).reshape(-1),
        )

    def serialize(self, msg: Any) -> bytes:
        if self.ros1:
            return bytes(self.store.serialize_ros1(msg, msg.__msgtype__))
        return bytes(self.store.serialize_cdr(msg, msg.__msgtype__))


TOPICS = {
    "/instruction": "std_msgs/msg/String",
    "/rosout": "rosgraph_msgs/msg/Log",
    "/joint_states": "sensor_msgs/msg/JointState",
    "/action/twist": "geometry_msgs/msg/Twist",
    "/action/gripper": "sensor_msgs/msg/JointState",
    "/image_0/compressed": "sensor_msgs/msg/CompressedImage",
    "/image_1/image_raw": "sensor_msgs/msg/Image",
    "/image_2/image_raw": "sensor_msgs/msg/Image",
}


def step_messages(m: _Messages, step: RobotStep, n: int, log_ns: int, episode: int) -> list[tuple[str, Any]]:
    """The messages of one step, in the order a recorder would log them at that instant."""
    stamp = log_ns - latency_ns(n)
    out: list[tuple[str, Any]] = []
    if step.is_first:
        if step.instruction:
            out.append(("/instruction", m.t["std_msgs/msg/String"](data=step.instruction)))
        out.append(("/rosout", _log_line(m, log_ns, f"episode {episode} starts")))
    out.append(("/joint_states", m.joints(stamp, STATE_NAMES, step.state)))
    lin, ang = step.action[:3], step.action[3:6]
    out.append(("/action/twist", m.t["geometry_msgs/msg/Twist"](linear=m.vec3(*lin), angular=m.vec3(*ang))))
    out.append(("/action/gripper", m.joints(stamp, ["gripper"], [step.action[6]])))
    jpeg = step.cameras["image_0"].data
    assert jpeg is not None
    compressed = m.t["sensor_msgs/msg/CompressedImage"](
        header=m.header(stamp, "image_0"), format="jpeg", data=np.frombuffer(jpeg, dtype=np.uint8)
    )
    out.append(("/image_0/compressed", compressed))
    for name, encoding in (("image_1", "rgb8"), ("image_2", "bgr8")):
        data = step.cameras[name].data
        assert data is not None
        out.append((f"/{name}/image_raw", m.raw_image(stamp, name, data, encoding)))
    return out


def _log_line(m: _Messages, ns: int, text: str) -> Any:
    if m.ros1:
        return m.t["rosgraph_msgs/msg/Log"](
            header=m.header(ns, ""),
            level=2,
            name="recorder",
            msg=text,
            file="",
            function="",
            line=0,
            topics=[],
        )
    return m.t["rcl_interfaces/msg/Log"](
        stamp=m.time(ns), level=20, name="recorder", msg=text, file="", function="", line=0
    )


def write_bridge_bag(
    episodes: list[list[RobotStep]],
    out: Path,
    storage: Storage,
    *,
    garbled_state_at: int | None = None,
    rename: dict[str, str] | None = None,
) -> Path:
    """A bag of `episodes` at `out` (a rosbag2 folder, or a `.bag` file for ROS 1); returns `out`.

    `garbled_state_at`: that step's (counted over the bag) JointState is written cut to 6 bytes, as a
    recorder bug or a bad disk would leave it. `rename`: topics written under other names.
    """
    m = _Messages(storage == "ros1")
    types = dict(TOPICS)
    if storage != "ros1":
        types["/rosout"] = "rcl_interfaces/msg/Log"
    if storage == "ros1":
        writer: Any = Ros1Writer(out)
    else:
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        writer = Ros2Writer(out, version=9, storage_plugin=plugin)
    with writer:
        names = rename or {}
        conns = {
            t: writer.add_connection(names.get(t, t), kind, typestore=m.store) for t, kind in types.items()
        }
        n = 0
        for k, (steps, times) in enumerate(zip(episodes, log_times(episodes), strict=True)):
            for step, log_ns in zip(steps, times, strict=True):
                for topic, msg in step_messages(m, step, n, log_ns, k):
                    data = m.serialize(msg)
                    if n == garbled_state_at and topic == "/joint_states":
                        data = data[:6]
                    writer.write(conns[topic], log_ns, data)
                n += 1
    return out
