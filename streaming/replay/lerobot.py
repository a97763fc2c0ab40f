"""Early LeRobot layout (datasets arrow stream + episode mp4s) -> RobotStep records.

Layout (e.g. the UMI cup episode):
  meta_data/info.json           {"fps": 10, "video": 1}
  train/data-*.arrow            a `datasets` arrow *stream*: observation.state, timestamp, episode_index,
                                frame_index, optional action, gripper_width, and one struct column
                                {path, timestamp} per camera pointing into videos/
  videos/<camera>_episode_<n>.mp4

Per row: timestamp from the table, state = observation.state, action = the `action` column or, when
there is none, the state difference (see `lerobot_common`), gripper = gripper_width[0] when present,
cameras = the video frame at the row's camera timestamp, JPEG-encoded. Episodes are replayed back to
back in order of first appearance.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from core.records import RobotStep
from streaming.replay.base import ReplayError, ReplayEvent, ReplaySource
from streaming.replay.checks import finite_scalar, read_json, sanitize_id
from streaming.replay.lerobot_common import diff_actions, episode_drafts, scalars, vectors, video_cameras
from streaming.replay.robot_steps import RobotStepDraft, emit_episode

log = logging.getLogger(__name__)

STATE = "observation.state"


class LeRobotArrowSource(ReplaySource):
    kind: ClassVar = "robot"
    record_type: ClassVar = RobotStep
    format_name: ClassVar[str] = "lerobot-arrow"

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return (
            path.is_dir()
            and (path / "meta_data" / "info.json").is_file()
            and any((path / "train").glob("*.arrow"))
        )

    def events(self, t0: float, rate: float) -> Iterator[ReplayEvent]:
        info = read_json(self.path / "meta_data" / "info.json", 1 << 20, "LeRobot info")
        fps = (
            float(info.get("fps") or self.config.robot_fps)
            if isinstance(info, dict)
            else self.config.robot_fps
        )
        table = self._table()
        if STATE not in table.column_names or "episode_index" not in table.column_names:
            raise ReplayError("schema_mismatch", f"{self.path}: needs {STATE} and episode_index columns")
        camera_columns = [
            name
            for name in table.column_names
            if pa.types.is_struct(table.schema.field(name).type)
            and {"path", "timestamp"} <= {f.name for f in table.schema.field(name).type}
        ]
        episodes = table.column("episode_index").to_pylist()
        order = list(dict.fromkeys(episodes))
        start_s = 0.0
        for episode in order:
            rows = table.filter(pc.equal(table.column("episode_index"), episode))
            episode_id = sanitize_id(f"{self.path.name}:{episode}", "episode")
            drafts = self._episode(episode_id, rows, camera_columns, start_s)
            yield from emit_episode(drafts, t0, rate)
            start_s = drafts[-1].at_s + 1.0 / fps

    def _table(self) -> pa.Table:
        tables = []
        for path in sorted((self.path / "train").glob("*.arrow")):
            if path.stat().st_size == 0:
                raise ReplayError("empty_file", f"{path} is empty")
            try:
                with pa.memory_map(str(path)) as source:
                    tables.append(pa.ipc.open_stream(source).read_all())
            except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
                raise ReplayError("corrupt_table", f"{path}: {exc}") from None
        try:
            return pa.concat_tables(tables)
        except pa.ArrowInvalid as exc:
            raise ReplayError("schema_mismatch", f"{self.path}: arrow files disagree: {exc}") from None

    def _episode(
        self, episode_id: str, rows: pa.Table, camera_columns: list[str], start_s: float
    ) -> list[RobotStepDraft]:
        states = vectors(rows, STATE)
        actions = vectors(rows, "action") if "action" in rows.column_names else diff_actions(states)
        gripper = scalars(rows, "gripper_width") if "gripper_width" in rows.column_names else None
        timestamps = scalars(rows, "timestamp") if "timestamp" in rows.column_names else None
        if timestamps is None:
            timestamps = [i / self.config.robot_fps for i in range(rows.num_rows)]
        videos: dict[str, tuple[Path, list[float]]] = {}
        for column in camera_columns:
            refs = rows.column(column).to_pylist()
            if any(r is None or not r.get("path") for r in refs):
                raise ReplayError("schema_mismatch", f"{episode_id}: {column} has rows without a video")
            paths = {r["path"] for r in refs}
            if len(paths) != 1:
                raise ReplayError(
                    "schema_mismatch", f"{episode_id}: {column} must name one video per episode"
                )
            video = (self.path / paths.pop()).resolve()
            if not video.is_relative_to(self.path.resolve()):
                raise ReplayError(
                    "path_outside_dataset", f"{episode_id}: {column} points outside the dataset"
                )
            videos[column] = (video, [finite_scalar(r["timestamp"], f"{column}.timestamp") for r in refs])
        cameras = video_cameras(videos, self.media, self.config, self.limits)
        frame_index = scalars(rows, "frame_index") if "frame_index" in rows.column_names else None
        return episode_drafts(
            episode_id=episode_id,
            timestamps=timestamps,
            states=states,
            actions=actions,
            cameras=cameras,
            start_s=start_s,
            limits=self.limits,
            gripper=gripper,
            frame_index=frame_index,
            source=self.path.name,
        )
