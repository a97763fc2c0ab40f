"""Early LeRobot layout (datasets arrow stream + episode mp4s) -> RobotStep records.

Layout (e.g. the UMI cup episode):
  meta_data/info.json           {"fps": 10, "video": 1}
  train/data-*.arrow            a `datasets` arrow *stream*: observation.state, timestamp, episode_index,
                                frame_index, optional action, gripper_width, and one struct column
                                {path, timestamp} per camera pointing into videos/
  videos/<camera>_episode_<n>.mp4

Per row: timestamp from the table, state = observation.state, action = the `action` column or, when
there is none, the state difference (see `lerobot_common`), gripper = gripper_width[0] when present,
cameras = the video frame at the row's camera timestamp, JPEG-encoded, named by column. Episodes are
replayed back to back in order of first appearance. `config.lerobot` (mapping_config.LeRobotMapping,
`--mapping`) renames any of these columns.
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
from streaming.replay.lerobot_common import (
    episode_drafts,
    mapped_gripper,
    scalars,
    states_actions,
    video_cameras,
)
from streaming.replay.robot_steps import RobotStepDraft, emit_episode

log = logging.getLogger(__name__)


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
        m = self.config.lerobot
        if m.episode_index not in table.column_names:
            raise ReplayError("schema_mismatch", f"{self.path}: needs an {m.episode_index} column")
        camera_columns = self._camera_columns(table)
        episodes = table.column(m.episode_index).to_pylist()
        order = list(dict.fromkeys(episodes))
        start_s = 0.0
        for episode in order:
            rows = table.filter(pc.equal(table.column(m.episode_index), episode))
            episode_id = sanitize_id(f"{self.path.name}:{episode}", "episode")
            try:
                drafts = self._episode(episode_id, rows, camera_columns, start_s)
            except ReplayError as exc:
                if exc.reason != "mapping_mismatch":
                    raise
                raise ReplayError(exc.reason, f"{self.path} {episode_id}: {exc.detail}") from None
            yield from emit_episode(drafts, t0, rate)
            start_s = drafts[-1].at_s + 1.0 / fps

    def _camera_columns(self, table: pa.Table) -> dict[str, str]:
        """Camera name -> {path, timestamp} column: the mapping's, else every such column by its name."""
        videos = [
            name
            for name in table.column_names
            if pa.types.is_struct(table.schema.field(name).type)
            and {"path", "timestamp"} <= {f.name for f in table.schema.field(name).type}
        ]
        mapped = self.config.lerobot.cameras
        if mapped is None:
            return {name: name for name in videos}
        wrong = [column for column in mapped.values() if column not in videos]
        if wrong:
            raise ReplayError(
                "mapping_mismatch",
                f"{self.path}: cameras name {', '.join(wrong)}, not video columns (those are: "
                f"{', '.join(videos) or 'none'})",
            )
        return dict(mapped)

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
        self, episode_id: str, rows: pa.Table, camera_columns: dict[str, str], start_s: float
    ) -> list[RobotStepDraft]:
        m = self.config.lerobot
        states, actions = states_actions(rows, m)
        gripper = mapped_gripper(rows, m, states, actions)
        if gripper is None and m.gripper_index is None and "gripper_width" in rows.column_names:
            gripper = scalars(rows, "gripper_width")
        timestamps = scalars(rows, m.timestamp) if m.timestamp in rows.column_names else None
        if timestamps is None:
            timestamps = [i / self.config.robot_fps for i in range(rows.num_rows)]
        videos: dict[str, tuple[Path, list[float]]] = {}
        for name, column in camera_columns.items():
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
            videos[name] = (video, [finite_scalar(r["timestamp"], f"{column}.timestamp") for r in refs])
        cameras = video_cameras(videos, self.media, self.config, self.limits)
        frame_index = scalars(rows, m.frame_index) if m.frame_index in rows.column_names else None
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
