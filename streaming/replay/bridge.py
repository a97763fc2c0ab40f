"""RLDS / TFDS episodes in TFRecord files (BridgeData V2 and the like) -> RobotStep records.

TFDS stores one episode per record as a flattened `tf.train.Example`: every per-step feature is one
list named `steps/<path>` holding all steps back to back (so `steps/action` has T x 7 floats), and
episode-level features are `episode_metadata/<name>`. Choices made here:

- episode_id = `<file stem>:<record index>` (the dataset's own `episode_metadata/episode_id` repeats
  across source files, so it is not unique);
- state = `steps/observation/state`, action = `steps/action`, gripper = the last action channel
  (Bridge's action is 6 end-effector deltas + gripper);
- cameras = every `steps/observation/<name>` that holds encoded images, bytes passed on as they are,
  except images that are entirely black (a dataset's empty slot: Bridge's `image_3`). The
  `episode_metadata/has_image_*` flags are not trusted: the shipped fixture sets them all to 0;
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
from streaming.replay.robot_steps import RobotStepDraft, emit_episode
from streaming.replay.tfrecord import FeatureValue, looks_like_tfrecord, parse_example, read_records

log = logging.getLogger(__name__)

STATE_KEYS = ("steps/observation/state", "steps/observation/proprio", "steps/observation/joint_state")
ACTION_KEY = "steps/action"
INSTRUCTION_KEYS = (
    "steps/language_instruction",
    "steps/observation/natural_language_instruction",
    "episode_metadata/language_instruction",
)
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
        state_key = next((k for k in STATE_KEYS if k in f), None)
        if state_key is None or ACTION_KEY not in f:
            raise ReplayError(
                "schema_mismatch", f"{self.path} {episode_id}: needs {ACTION_KEY} and one of {STATE_KEYS}"
            )
        n = _num_steps(f)
        if n == 0:
            raise ReplayError("empty_episode", f"{self.path} {episode_id} has no steps")
        states = _per_step(f[state_key], n, state_key, episode_id)
        actions = _per_step(f[ACTION_KEY], n, ACTION_KEY, episode_id)
        instructions = _instructions(f, n)
        is_first = _flags(f.get("steps/is_first"), n, first=True)
        is_last = _flags(f.get("steps/is_last"), n, first=False)
        cameras = self._cameras(f, n, episode_id)
        out = []
        for i in range(n):
            state = finite_vector(states[i], f"{episode_id} step {i} state", self.limits)
            action = finite_vector(actions[i], f"{episode_id} step {i} action", self.limits)
            out.append(
                RobotStepDraft(
                    episode_id=episode_id,
                    step_index=i,
                    at_s=start_s + i * step_s,
                    state=state,
                    action=action,
                    gripper=action[-1] if action else None,
                    cameras=cameras[i],
                    instruction=instructions[i],
                    is_first=is_first[i] or i == 0,
                    is_last=is_last[i] or i == n - 1,
                    source=self.path.name,
                )
            )
        return out

    def _cameras(self, f: dict[str, FeatureValue], n: int, episode_id: str) -> list[dict[str, MediaRef]]:
        out: list[dict[str, MediaRef]] = [{} for _ in range(n)]
        for key in sorted(f):
            values = f[key]
            if not key.startswith("steps/observation/") or not isinstance(values, list) or not values:
                continue
            media_type = _image_type(values[0])
            if media_type is None:
                continue
            if len(values) != n:
                raise ReplayError(
                    "schema_mismatch", f"{episode_id}: {key} has {len(values)} images for {n} steps"
                )
            name = key.removeprefix("steps/observation/")
            for i, data in enumerate(values):
                width, height = image_size(data, f"{episode_id} step {i} {name}", self.limits)
                if not _is_black(data):
                    out[i][name] = self.media(data, media_type, width, height)
        return out


def _num_steps(f: dict[str, FeatureValue]) -> int:
    for key in ("steps/is_first", "steps/is_last", "steps/reward", "steps/discount"):
        if key in f:
            return len(f[key])
    for key in INSTRUCTION_KEYS[:2]:
        if key in f:
            return len(f[key])
    raise ReplayError("schema_mismatch", "cannot tell the number of steps (no steps/is_first)")


def _per_step(values: FeatureValue, n: int, key: str, episode_id: str) -> np.ndarray:
    if isinstance(values, list):
        raise ReplayError("schema_mismatch", f"{episode_id}: {key} is bytes, expected numbers")
    if len(values) % n:
        raise ReplayError("schema_mismatch", f"{episode_id}: {key} has {len(values)} values for {n} steps")
    return np.asarray(values, dtype=np.float64).reshape(n, -1)


def _instructions(f: dict[str, FeatureValue], n: int) -> list[str | None]:
    for key in INSTRUCTION_KEYS:
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
