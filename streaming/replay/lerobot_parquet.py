"""LeRobot v2.x / v3.0 dataset folders (parquet + mp4) -> RobotStep records.

  meta/info.json        codebase_version, fps, features {name: {dtype, shape, names}}, data_path, video_path
  meta/tasks.jsonl      v2: {"task_index", "task"} per line      | meta/tasks.parquet (v3)
  meta/episodes.jsonl   v2: {"episode_index", "tasks", "length"} | meta/episodes/chunk-*/file-*.parquet (v3,
                        with videos/<key>/chunk_index, file_index, from_timestamp per episode)
  data/chunk-*/episode_*.parquet (v2: one episode per file) | data/chunk-*/file-*.parquet (v3: many)
  videos/...mp4         v2: one file per episode and camera | v3: episodes are windows of shared files

Per row: state = observation.state, action = action (or the state difference when absent), timestamp,
instruction = the row's task (task_index) or the episode's first task, cameras = the frame at
`from_timestamp + timestamp` of each video feature (JPEG) and the bytes of each image feature, gripper =
the action (else state) channel whose name contains "gripper". Episodes are replayed back to back.
`config.lerobot` (mapping_config.LeRobotMapping, `--mapping`) renames any of these columns and keys.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.records import MediaRef, RobotStep
from streaming.replay.base import ReplayError, ReplayEvent, ReplaySource
from streaming.replay.checks import image_size, read_bytes, read_json, sanitize_id
from streaming.replay.lerobot_common import (
    episode_drafts,
    mapped_gripper,
    scalars,
    states_actions,
    video_cameras,
)
from streaming.replay.robot_steps import RobotStepDraft, emit_episode

log = logging.getLogger(__name__)

V2_VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
V3_VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
_META_MAX_BYTES = 256 << 20
_IMAGE_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG": "image/png"}


class LeRobotParquetSource(ReplaySource):
    kind: ClassVar = "robot"
    record_type: ClassVar = RobotStep
    format_name: ClassVar[str] = "lerobot-parquet"

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return path.is_dir() and (path / "meta" / "info.json").is_file() and (path / "data").is_dir()

    def events(self, t0: float, rate: float) -> Iterator[ReplayEvent]:
        info = read_json(self.path / "meta" / "info.json", _META_MAX_BYTES, "LeRobot info")
        if not isinstance(info, dict) or not isinstance(info.get("features"), dict):
            raise ReplayError("schema_mismatch", f"{self.path}/meta/info.json has no features")
        fps = float(info.get("fps") or self.config.robot_fps)
        tasks = self._tasks()
        episodes = self._episodes()
        files = sorted((self.path / "data").rglob("*.parquet"))
        if not files:
            raise ReplayError("empty_dataset", f"{self.path}/data holds no parquet files")
        cameras = self._camera_keys(info)
        column = self.config.lerobot.episode_index
        start_s = 0.0
        for file in files:
            table = _read_parquet(file)
            if column not in table.column_names:
                raise ReplayError("schema_mismatch", f"{file}: no {column} column")
            for episode in dict.fromkeys(table.column(column).to_pylist()):
                rows = table.filter(pc.equal(table.column(column), episode))
                try:
                    drafts = self._episode(
                        info, int(episode), rows, tasks, episodes.get(int(episode), {}), start_s, cameras
                    )
                except ReplayError as exc:
                    if exc.reason != "mapping_mismatch":
                        raise
                    raise ReplayError(exc.reason, f"{file} episode {episode}: {exc.detail}") from None
                yield from emit_episode(drafts, t0, rate)
                start_s = drafts[-1].at_s + 1.0 / fps

    def _episode(
        self,
        info: dict[str, Any],
        episode: int,
        rows: pa.Table,
        tasks: dict[int, str],
        meta: dict[str, Any],
        start_s: float,
        camera_keys: dict[str, tuple[str, str]],
    ) -> list[RobotStepDraft]:
        m = self.config.lerobot
        features: dict[str, Any] = info["features"]
        episode_id = sanitize_id(f"{self.path.name}:{episode}", "episode")
        states, actions = states_actions(rows, m)
        state_names = _joined_names(features, m.state, states.shape[1])
        action_names = _joined_names(features, m.action or ["action"], actions.shape[1])
        timestamps = scalars(rows, m.timestamp)
        videos = {name: key for name, (key, dtype) in camera_keys.items() if dtype == "video"}
        cameras = self._video_frames(info, episode, meta, timestamps, videos)
        for name, (key, dtype) in camera_keys.items():
            if dtype == "image" and key in rows.column_names:
                cameras[name] = self._images(rows, key, episode_id)
        gripper = mapped_gripper(rows, m, states, actions)
        if gripper is None:
            gripper = _channel(actions, action_names) or _channel(states, state_names)
        instruction = None
        if m.task_index in rows.column_names:
            instruction = tasks.get(int(rows.column(m.task_index)[0].as_py()))
        if instruction is None and meta.get("tasks"):
            instruction = str(meta["tasks"][0])
        return episode_drafts(
            episode_id=episode_id,
            timestamps=timestamps,
            states=states,
            actions=actions,
            cameras=cameras,
            start_s=start_s,
            limits=self.limits,
            gripper=gripper,
            frame_index=scalars(rows, m.frame_index) if m.frame_index in rows.column_names else None,
            instruction=instruction,
            state_names=state_names,
            action_names=action_names,
            source=self.path.name,
        )

    def _camera_keys(self, info: dict[str, Any]) -> dict[str, tuple[str, str]]:
        """Camera name -> (feature key, "video" | "image"): the mapping's, else every such feature by key."""
        kinds = {
            key: spec["dtype"]
            for key, spec in info["features"].items()
            if isinstance(spec, dict) and spec.get("dtype") in ("video", "image")
        }
        mapped = self.config.lerobot.cameras
        if mapped is None:
            return {key: (key, dtype) for key, dtype in kinds.items()}
        wrong = [key for key in mapped.values() if key not in kinds]
        if wrong:
            raise ReplayError(
                "mapping_mismatch",
                f"{self.path}: cameras name {', '.join(wrong)}, not video or image features of "
                f"meta/info.json (those are: {', '.join(kinds) or 'none'})",
            )
        return {name: (key, kinds[key]) for name, key in mapped.items()}

    def _video_frames(
        self,
        info: dict[str, Any],
        episode: int,
        meta: dict[str, Any],
        timestamps: list[float],
        video_keys: dict[str, str],
    ) -> dict[str, list[MediaRef]]:
        v3 = str(info.get("codebase_version", "")).startswith("v3")
        template = str(info.get("video_path") or (V3_VIDEO_PATH if v3 else V2_VIDEO_PATH))
        chunks_size = int(info.get("chunks_size") or 1000)
        videos: dict[str, tuple[Path, list[float]]] = {}
        for name, key in video_keys.items():
            fields = {
                "video_key": key,
                "episode_index": episode,
                "episode_chunk": episode // chunks_size,
                "chunk_index": int(meta.get(f"videos/{key}/chunk_index", episode // chunks_size)),
                "file_index": int(meta.get(f"videos/{key}/file_index", 0)),
            }
            try:
                relative = template.format(**fields)
            except (KeyError, IndexError, ValueError) as exc:
                raise ReplayError("schema_mismatch", f"video_path {template!r}: {exc}") from None
            path = self._inside(relative)
            offset = float(meta.get(f"videos/{key}/from_timestamp", 0.0))
            videos[name] = (path, [offset + t for t in timestamps])
        return video_cameras(videos, self.media, self.config, self.limits)

    def _images(self, rows: pa.Table, key: str, episode_id: str) -> list[MediaRef]:
        out = []
        for i, cell in enumerate(rows.column(key).to_pylist()):
            data = cell.get("bytes") if isinstance(cell, dict) else cell
            if not isinstance(data, bytes):
                raise ReplayError("schema_mismatch", f"{episode_id} step {i}: image {key} has no bytes")
            media_type = next((t for m, t in _IMAGE_TYPES.items() if data.startswith(m)), None)
            if media_type is None:
                raise ReplayError("corrupt_image", f"{episode_id} step {i}: image {key} is not JPEG or PNG")
            width, height = image_size(data, f"{episode_id} step {i} {key}", self.limits)
            out.append(self.media(data, media_type, width, height))
        return out

    def _inside(self, relative: str) -> Path:
        path = (self.path / relative).resolve()
        if not path.is_relative_to(self.path.resolve()):
            raise ReplayError("path_outside_dataset", f"{relative!r} points outside {self.path}")
        return path

    def _tasks(self) -> dict[int, str]:
        jsonl, parquet = self.path / "meta" / "tasks.jsonl", self.path / "meta" / "tasks.parquet"
        if jsonl.is_file():
            return {int(r["task_index"]): str(r["task"]) for r in _jsonl(jsonl)}
        if parquet.is_file():
            table = _read_parquet(parquet)
            text = "task" if "task" in table.column_names else "__index_level_0__"
            if text not in table.column_names or "task_index" not in table.column_names:
                raise ReplayError("schema_mismatch", f"{parquet}: needs task and task_index")
            return dict(
                zip(table.column("task_index").to_pylist(), table.column(text).to_pylist(), strict=True)
            )
        return {}

    def _episodes(self) -> dict[int, dict[str, Any]]:
        jsonl = self.path / "meta" / "episodes.jsonl"
        if jsonl.is_file():
            return {int(r["episode_index"]): r for r in _jsonl(jsonl)}
        out: dict[int, dict[str, Any]] = {}
        for file in sorted((self.path / "meta" / "episodes").rglob("*.parquet")):
            for row in _read_parquet(file).to_pylist():
                out[int(row["episode_index"])] = row
        return out


def incomplete(path: Path) -> str | None:
    """What a LeRobot v2/v3 folder lacks when it has meta/info.json but no data/ folder (a partial download),
    else None. Its steps (state, action, timestamps) live only in data/*.parquet, so it cannot be replayed
    as robot steps; its videos alone can, as video streams, from the videos/ folder."""
    if not path.is_dir() or not (path / "meta" / "info.json").is_file() or (path / "data").exists():
        return None
    videos = path / "videos"
    count = (
        sum(1 for f in videos.rglob("*") if f.suffix.lower() in (".mp4", ".mkv")) if videos.is_dir() else 0
    )
    hint = f"; replay {videos} to publish the videos alone as video streams" if count else ""
    return f"{path}: no data/ parquet files (the steps' state and action); found meta/info.json and {count} videos{hint}"


def _read_parquet(path: Path) -> pa.Table:
    if path.stat().st_size == 0:
        raise ReplayError("empty_file", f"{path} is empty")
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        raise ReplayError("corrupt_table", f"{path}: {exc}") from None


def _jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(read_bytes(path, _META_MAX_BYTES, "LeRobot metadata").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReplayError("bad_json", f"{path}:{n}: {exc}") from None
        if not isinstance(row, dict):
            raise ReplayError("bad_json", f"{path}:{n}: not an object")
        out.append(row)
    return out


def _names(spec: Any, width: int) -> list[str] | None:
    """Channel names of a feature: a list, {"motors": [...]}, or {name: index}; None if they don't fit."""
    names = spec.get("names") if isinstance(spec, dict) else None
    if isinstance(names, dict):
        mapping: dict[str, Any] = names
        values = list(mapping.values())
        if len(values) == 1 and isinstance(values[0], list):
            names = values[0]
        elif all(isinstance(v, int) for v in values):
            names = sorted(mapping, key=lambda k: mapping[k])
    if isinstance(names, list) and len(names) == width and all(isinstance(n, str) for n in names):
        return names
    return None


def _joined_names(features: dict[str, Any], keys: list[str], width: int) -> list[str] | None:
    """Channel names of columns laid side by side; None unless every column has names that fit."""
    if len(keys) == 1:
        return _names(features.get(keys[0]), width)
    out: list[str] = []
    for key in keys:
        spec = features.get(key)
        shape = spec.get("shape") if isinstance(spec, dict) else None
        part = _names(spec, int(shape[0])) if isinstance(shape, list) and len(shape) == 1 else None
        if part is None:
            return None
        out.extend(part)
    return out if len(out) == width else None


def _channel(values: Any, names: list[str] | None) -> list[float] | None:
    if not names:
        return None
    index = next((i for i, n in enumerate(names) if "gripper" in n.lower()), None)
    return None if index is None else [float(v) for v in values[:, index]]
