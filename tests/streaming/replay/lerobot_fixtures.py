"""Build LeRobot folders (early arrow, v2.1, v3.0) from the real UMI episode, for the reader tests."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

UMI = Path("robot/umi_cup_in_the_wild")
VIDEO = "videos/observation.image_episode_000000.mp4"
NAMES = ["x", "y", "z", "rx", "ry", "rz", "gripper_width"]
TASK = "pick up the cup and put it down on the table"


def umi_table(umi: Path) -> pa.Table:
    with pa.memory_map(str(umi / "train" / "data-00000-of-00001.arrow")) as source:
        return pa.ipc.open_stream(source).read_all()


def write_arrow_copy(umi: Path, dest: Path, table: pa.Table) -> Path:
    """An early-layout folder with `table` as its arrow stream (video and meta copied)."""
    shutil.copytree(umi / "meta_data", dest / "meta_data")
    (dest / "videos").mkdir(parents=True)
    shutil.copy(umi / VIDEO, dest / VIDEO)
    (dest / "train").mkdir()
    with pa.OSFile(str(dest / "train" / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    return dest


def _states_actions(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    states = np.asarray(table.column("observation.state").to_pylist(), np.float32)
    actions = states.copy()
    actions[:-1] = states[1:]  # commanded next pose (LeRobot's absolute-action convention)
    return states, actions


def _data_table(table: pa.Table, rows: slice, episode: int, t_offset: float) -> pa.Table:
    states, actions = _states_actions(table)
    ts = np.asarray(table.column("timestamp").to_pylist(), np.float32)[rows] - np.float32(t_offset)
    n = len(ts)
    return pa.table(
        {
            "observation.state": pa.array(states[rows].tolist(), pa.list_(pa.float32(), 7)),
            "action": pa.array(actions[rows].tolist(), pa.list_(pa.float32(), 7)),
            "timestamp": pa.array(ts, pa.float32()),
            "frame_index": pa.array(range(n), pa.int64()),
            "episode_index": pa.array([episode] * n, pa.int64()),
            "index": pa.array(range(rows.start or 0, (rows.start or 0) + n), pa.int64()),
            "task_index": pa.array([0] * n, pa.int64()),
        }
    )


def _features() -> dict:
    return {
        "observation.image": {
            "dtype": "video",
            "shape": [224, 224, 3],
            "names": ["height", "width", "channel"],
        },
        "observation.state": {"dtype": "float32", "shape": [7], "names": NAMES},
        "action": {"dtype": "float32", "shape": [7], "names": {"motors": NAMES}},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    }


def build_v2(umi: Path, root: Path) -> Path:
    """v2.1: one parquet and one mp4 per episode, jsonl metadata."""
    table = umi_table(umi)
    (root / "data" / "chunk-000").mkdir(parents=True)
    pq.write_table(_data_table(table, slice(0, None), 0, 0.0), root / "data/chunk-000/episode_000000.parquet")
    video = root / "videos/chunk-000/observation.image/episode_000000.mp4"
    video.parent.mkdir(parents=True)
    shutil.copy(umi / VIDEO, video)
    (root / "meta").mkdir()
    info = {
        "codebase_version": "v2.1",
        "fps": 10,
        "chunks_size": 1000,
        "total_episodes": 1,
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
        "features": _features(),
    }
    (root / "meta/info.json").write_text(json.dumps(info))
    (root / "meta/tasks.jsonl").write_text(json.dumps({"task_index": 0, "task": TASK}) + "\n")
    (root / "meta/episodes.jsonl").write_text(
        json.dumps({"episode_index": 0, "tasks": [TASK], "length": 400}) + "\n"
    )
    return root


def build_v3(umi: Path, root: Path, split: int = 200) -> Path:
    """v3.0: the UMI episode cut in two episodes that are windows of one shared mp4 and one parquet."""
    table = umi_table(umi)
    t_split = float(table.column("timestamp")[split].as_py())
    first = _data_table(table, slice(0, split), 0, 0.0)
    second = _data_table(table, slice(split, None), 1, t_split)
    (root / "data" / "chunk-000").mkdir(parents=True)
    pq.write_table(pa.concat_tables([first, second]), root / "data/chunk-000/file-000.parquet")
    video = root / "videos/observation.image/chunk-000/file-000.mp4"
    video.parent.mkdir(parents=True)
    shutil.copy(umi / VIDEO, video)
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    info = {
        "codebase_version": "v3.0",
        "fps": 10,
        "chunks_size": 1000,
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
        "features": _features(),
    }
    (root / "meta/info.json").write_text(json.dumps(info))
    episodes = pa.table(
        {
            "episode_index": [0, 1],
            "tasks": [[TASK], [TASK]],
            "length": [split, table.num_rows - split],
            "data/chunk_index": [0, 0],
            "data/file_index": [0, 0],
            "videos/observation.image/chunk_index": [0, 0],
            "videos/observation.image/file_index": [0, 0],
            "videos/observation.image/from_timestamp": [0.0, t_split],
            "videos/observation.image/to_timestamp": [t_split, 40.0],
        }
    )
    pq.write_table(episodes, root / "meta/episodes/chunk-000/file-000.parquet")
    pq.write_table(pa.table({"task_index": [0], "task": [TASK]}), root / "meta/tasks.parquet")
    return root


def reencode_av1(src: Path, dest: Path, container: str = "mp4", gop: int = 20) -> Path:
    """`src` re-encoded to AV1 by PyAV's SVT-AV1 encoder (LeRobot's default video codec), same frame times."""
    import av  # the fixtures above need only pyarrow

    dest.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(src)) as inp, av.open(str(dest), "w", format=container) as out:
        istream = inp.streams.video[0]
        rate = int(round(istream.average_rate or 10))
        ostream = out.add_stream("libsvtav1", rate=rate)
        ostream.width, ostream.height, ostream.pix_fmt = istream.width, istream.height, "yuv420p"
        ostream.options = {"g": str(gop), "preset": "12"}  # fastest preset: tests need the codec, not quality
        for n, frame in enumerate(inp.decode(istream)):
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = n, Fraction(1, rate)  # frame n at n / rate, as in the source
            out.mux(ostream.encode(frame))
        out.mux(ostream.encode())
    return dest


def build_v2_av1(umi: Path, root: Path) -> Path:
    """The v2.1 folder with its episode video in AV1 (what `lerobot` writes by default)."""
    build_v2(umi, root)
    video = root / "videos/chunk-000/observation.image/episode_000000.mp4"
    reencode_av1(umi / VIDEO, video)
    return root
