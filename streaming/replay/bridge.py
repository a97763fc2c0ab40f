"""RLDS / TFDS episodes in TFRecord files (BridgeData V2 and the like) -> RobotStep records.

TFDS stores one episode per record as a flattened `tf.train.Example`: every per-step feature is one
list named `steps/<path>` holding all steps back to back (so `steps/action` has T x 7 floats), and
episode-level features are `episode_metadata/<name>`. Choices made here:

- episode_id = `<file stem>:<record index>` (the dataset's own `episode_metadata/episode_id` repeats
  across source files, so it is not unique);
- which feature is which comes from `config.rlds` (mapping_config.RldsMapping, `--mapping`); by default
  state = `steps/observation/state`, action = `steps/action`, gripper = the last action channel
  (Bridge's action is 6 end-effector deltas + gripper);
- cameras = the mapped image features, or every `steps/observation/<name>` that holds encoded images,
  bytes passed on as they are, except images that are entirely black (a dataset's empty slot: Bridge's
  `image_3`). The `episode_metadata/has_image_*` flags are not trusted: the shipped fixture sets them
  all to 0;
- is_first is the dataset's flag; is_last is the dataset's flag OR the final step present in the
  record (the fixture cut episodes at 10 steps and its is_last is 0 throughout);
- timing: no timestamps in RLDS, so steps are paced at `robot_fps` (10 Hz), episodes back to back.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

from core.records import MediaRef, RobotStep
from streaming.replay.base import ReplayError, ReplayEvent, ReplaySource
from streaming.replay.checks import finite_vector, image_size, sanitize_id
from streaming.replay.mapping_config import RLDS_STATE_KEYS, RldsMapping
from streaming.replay.robot_steps import RobotStepDraft, emit_episode
from streaming.replay.tfrecord import FeatureValue, looks_like_tfrecord, parse_example, read_records

log = logging.getLogger(__name__)

_IMAGE_MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG": "image/png"}
BLACK_LEVEL = 8  # an image whose brightest pixel is at most this is an empty camera slot


class RldsTfrecordSource(ReplaySource):
    kind: ClassVar = "robot"
    record_type: ClassVar = RobotStep
    format_name: ClassVar[str] = "rlds-tfrecord"

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return path.is_file() and looks_like_tfrecord(path)

    def events(self, t0: float, rate: float) -> Iterator[ReplayEvent]:
        stem = sanitize_id(self.path.name, "episode")
        step_s = 1.0 / self.config.robot_fps
        clock = 0
        records = read_records(
            self.path,
            verify_data_crc=self.config.verify_tfrecord_crc,
            max_record_bytes=self.config.max_tfrecord_record_bytes,
        )
        for index, payload in enumerate(records):
            episode_id = f"{stem}:{index:05d}"
            # the whole episode is read and checked before any of its steps is yielded
            drafts = self._episode(episode_id, parse_example(payload), clock * step_s, step_s)
            yield from emit_episode(drafts, t0, rate)
            clock += len(drafts)

    def _episode(
        self, episode_id: str, f: dict[str, FeatureValue], start_s: float, step_s: float
    ) -> list[RobotStepDraft]:
        m = self.config.rlds
        state_keys = m.state or [next((k for k in RLDS_STATE_KEYS if k in f), RLDS_STATE_KEYS[0])]
        missing = [k for k in (*state_keys, *m.action) if k not in f]
        if missing:
            mapped = bool({"state", "action"} & m.model_fields_set)
            raise ReplayError(
                "mapping_mismatch" if mapped else "schema_mismatch",
                f"{self.path} {episode_id}: no {', '.join(missing)} in the episode "
                f"(state: {m.state or list(RLDS_STATE_KEYS)}, action: {m.action})",
            )
        n = _num_steps(f, m)
        if n == 0:
            raise ReplayError("empty_episode", f"{self.path} {episode_id} has no steps")
        states = _concat(f, state_keys, n, episode_id)
        actions = _concat(f, m.action, n, episode_id)
        instructions = _instructions(f, n, m.instruction)
        is_first = _flags(f.get(m.is_first), n, first=True)
        is_last = _flags(f.get(m.is_last), n, first=False)
        cameras = self._cameras(f, n, episode_id)
        gripper_of = {"action": actions, "state": states}.get(m.gripper)
        if (
            gripper_of is not None
            and gripper_of.shape[1]
            and not -gripper_of.shape[1] <= m.gripper_index < gripper_of.shape[1]
        ):
            raise ReplayError(
                "mapping_mismatch",
                f"{self.path} {episode_id}: gripper_index {m.gripper_index} is outside the "
                f"{gripper_of.shape[1]} {m.gripper} channels",
            )
        out = []
        for i in range(n):
            state = finite_vector(states[i], f"{episode_id} step {i} state", self.limits)
            action = finite_vector(actions[i], f"{episode_id} step {i} action", self.limits)
            vector = {"action": action, "state": state}.get(m.gripper)
            out.append(
                RobotStepDraft(
                    episode_id=episode_id,
                    step_index=i,
                    at_s=start_s + i * step_s,
                    state=state,
                    action=action,
                    gripper=vector[m.gripper_index] if vector else None,
                    cameras=cameras[i],
                    instruction=instructions[i],
                    is_first=is_first[i] or i == 0,
                    is_last=is_last[i] or i == n - 1,
                    source=self.path.name,
                )
            )
        return out

    def _camera_keys(self, f: dict[str, FeatureValue], episode_id: str) -> dict[str, str]:
        """Feature -> camera name: the mapping's, else every observation feature that holds images."""
        mapped = self.config.rlds.cameras
        if mapped is not None:
            for name, key in mapped.items():
                values = f.get(key)
                if not isinstance(values, list) or (values and _image_type(values[0]) is None):
                    raise ReplayError(
                        "mapping_mismatch",
                        f"{self.path} {episode_id}: camera {name!r} names {key}, which is not an image "
                        "feature of the episode",
                    )
            return {key: name for name, key in mapped.items()}
        out = {}
        for key in sorted(f):
            values = f[key]
            if not key.startswith("steps/observation/") or not isinstance(values, list) or not values:
                continue
            if _image_type(values[0]) is not None:
                out[key] = key.removeprefix("steps/observation/")
        return out

    def _cameras(self, f: dict[str, FeatureValue], n: int, episode_id: str) -> list[dict[str, MediaRef]]:
        out: list[dict[str, MediaRef]] = [{} for _ in range(n)]
        for key, name in self._camera_keys(f, episode_id).items():
            values = f[key]
            assert isinstance(values, list)
            if not values:
                continue
            media_type = _image_type(values[0])
            if len(values) != n:
                raise ReplayError(
                    "schema_mismatch", f"{episode_id}: {key} has {len(values)} images for {n} steps"
                )
            for i, data in enumerate(values):
                width, height = image_size(data, f"{episode_id} step {i} {name}", self.limits)
                if not (self.config.rlds.skip_black_frames and _is_black(data)):
                    assert media_type is not None
                    out[i][name] = self.media(data, media_type, width, height)
        return out


def _num_steps(f: dict[str, FeatureValue], m: RldsMapping) -> int:
    for key in (m.is_first, m.is_last, "steps/reward", "steps/discount"):
        if key in f:
            return len(f[key])
    for key in m.instruction:
        if key.startswith("steps/") and key in f:
            return len(f[key])
    raise ReplayError("schema_mismatch", f"cannot tell the number of steps (no {m.is_first})")


def _concat(f: dict[str, FeatureValue], keys: list[str], n: int, episode_id: str) -> np.ndarray:
    parts = [_per_step(f[key], n, key, episode_id) for key in keys]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def _per_step(values: FeatureValue, n: int, key: str, episode_id: str) -> np.ndarray:
    if isinstance(values, list):
        raise ReplayError("schema_mismatch", f"{episode_id}: {key} is bytes, expected numbers")
    if len(values) % n:
        raise ReplayError("schema_mismatch", f"{episode_id}: {key} has {len(values)} values for {n} steps")
    return np.asarray(values, dtype=np.float64).reshape(n, -1)


def _instructions(f: dict[str, FeatureValue], n: int, keys: list[str]) -> list[str | None]:
    for key in keys:
        values = f.get(key)
        if isinstance(values, list) and values:
            texts = [v.decode("utf-8", errors="replace").strip() or None for v in values]
            return texts if len(texts) == n else [texts[0]] * n
    return [None] * n


def _flags(values: FeatureValue | None, n: int, *, first: bool) -> list[bool]:
    if values is None or isinstance(values, list) or len(values) != n:
        return [first and i == 0 for i in range(n)]
    return [bool(v) for v in values]


def _image_type(data: bytes) -> str | None:
    return next((t for magic, t in _IMAGE_MAGIC.items() if data.startswith(magic)), None)


def _is_black(data: bytes) -> bool:
    """Brightest pixel at most BLACK_LEVEL, decoded at reduced scale (JPEG DCT scaling) to stay cheap."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("L", (max(1, img.width // 8), max(1, img.height // 8)))
            extrema = img.convert("L").getextrema()
    except (OSError, ValueError, SyntaxError) as exc:
        raise ReplayError("corrupt_image", f"camera image does not decode: {exc}") from None
    high = extrema[1] if isinstance(extrema, tuple) else extrema
    return bool(isinstance(high, (int, float)) and high <= BLACK_LEVEL)
