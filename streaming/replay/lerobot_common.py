"""Pieces shared by the LeRobot readers: table columns as arrays, and one episode -> step drafts.

Action convention when a dataset has no action column (the early UMI layout): the action of step t is
the state change it leads to, `state[t+1] - state[t]`; the final step holds still (all zeros).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from core.limits_config import LimitsConfig
from core.records import MediaRef
from streaming.replay.base import ReplayError
from streaming.replay.checks import check_increasing, finite_scalar, finite_vector
from streaming.replay.frames import jpeg_frames_at
from streaming.replay.mapping_config import LeRobotMapping
from streaming.replay.robot_steps import RobotStepDraft
from streaming.replay.source_config import ReplaySourceConfig

MediaFn = Callable[[bytes, str, int | None, int | None], MediaRef]


def vectors(table: pa.Table, name: str) -> np.ndarray:
    """A list / fixed-size-list column as an (n, d) float64 array; a scalar column as (n, 1)."""
    if name not in table.column_names:
        raise ReplayError("schema_mismatch", f"column {name!r} missing")
    column = table.column(name).combine_chunks()
    if pa.types.is_fixed_size_list(column.type):
        flat = column.flatten().to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=np.float64).reshape(len(column), column.type.list_size)
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        rows = column.to_pylist()
        widths = {len(r) for r in rows if r is not None}
        if None in rows or len(widths) > 1:
            raise ReplayError("schema_mismatch", f"column {name!r} has missing or ragged vectors")
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), widths.pop() if widths else 0)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64).reshape(-1, 1)
    raise ReplayError("schema_mismatch", f"column {name!r} of type {column.type} is not numeric")


def scalars(table: pa.Table, name: str) -> list[float]:
    return [float(v) for v in vectors(table, name)[:, 0]]


def diff_actions(states: np.ndarray) -> np.ndarray:
    """action[t] = state[t+1] - state[t]; the last step's action is zeros."""
    actions = np.zeros_like(states)
    if len(states) > 1:
        actions[:-1] = states[1:] - states[:-1]
    return actions


def concat_vectors(table: pa.Table, names: list[str], mapped: bool) -> np.ndarray:
    """Columns side by side as one (n, d) array; a missing column is the mapping's error when it named it."""
    missing = [name for name in names if name not in table.column_names]
    if missing:
        raise ReplayError(
            "mapping_mismatch" if mapped else "schema_mismatch",
            f"no column {', '.join(missing)} (columns: {', '.join(table.column_names)})",
        )
    parts = [vectors(table, name) for name in names]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def states_actions(rows: pa.Table, m: LeRobotMapping) -> tuple[np.ndarray, np.ndarray]:
    """State and action per row as the mapping says; no action column: the state difference."""
    states = concat_vectors(rows, m.state, "state" in m.model_fields_set)
    if m.action is not None:
        actions = concat_vectors(rows, m.action, True)
    elif "action" in rows.column_names:
        actions = vectors(rows, "action")
    else:
        actions = diff_actions(states)
    return states, actions


def mapped_gripper(
    rows: pa.Table, m: LeRobotMapping, states: np.ndarray, actions: np.ndarray
) -> list[float] | None:
    """The gripper the mapping names (a column, or a channel of the action / state); None when it names none."""
    if m.gripper_column is not None:
        return [float(v) for v in concat_vectors(rows, [m.gripper_column], True)[:, 0]]
    if m.gripper_index is None:
        return None
    values = actions if m.gripper_of == "action" else states
    if not -values.shape[1] <= m.gripper_index < values.shape[1]:
        raise ReplayError(
            "mapping_mismatch",
            f"gripper_index {m.gripper_index} is outside the {values.shape[1]} {m.gripper_of} channels",
        )
    return [float(v) for v in values[:, m.gripper_index]]


def video_cameras(
    videos: dict[str, tuple[Path, list[float]]],
    media: MediaFn,
    config: ReplaySourceConfig,
    limits: LimitsConfig,
) -> dict[str, list[MediaRef]]:
    """Per camera: the JPEG of the frame at each step time, via one sequential decode per video."""
    out: dict[str, list[MediaRef]] = {}
    for name, (path, times) in videos.items():
        frames = jpeg_frames_at(
            path,
            times,
            tolerance_s=config.frame_match_tolerance_s,
            quality=config.jpeg_quality,
            limits=limits,
        )
        out[name] = [media(f.data, "image/jpeg", f.width, f.height) for f in frames]
    return out


def episode_drafts(
    *,
    episode_id: str,
    timestamps: Sequence[float],
    states: np.ndarray,
    actions: np.ndarray,
    cameras: dict[str, list[MediaRef]],
    start_s: float,
    limits: LimitsConfig,
    gripper: Sequence[float] | None = None,
    frame_index: Sequence[float] | None = None,
    instruction: str | None = None,
    state_names: list[str] | None = None,
    action_names: list[str] | None = None,
    source: str | None = None,
) -> list[RobotStepDraft]:
    """Checked drafts of one episode; times are `start_s + (timestamp - first timestamp)`."""
    n = len(timestamps)
    if n == 0:
        raise ReplayError("empty_episode", f"episode {episode_id} has no rows")
    if len(states) != n or len(actions) != n:
        raise ReplayError("schema_mismatch", f"episode {episode_id}: state/action rows do not match")
    ts = [finite_scalar(t, f"{episode_id} timestamp") for t in timestamps]
    check_increasing(ts, f"episode {episode_id} timestamps")
    if frame_index is not None:
        check_increasing(list(frame_index), f"episode {episode_id} frame_index")
    drafts = []
    for i in range(n):
        drafts.append(
            RobotStepDraft(
                episode_id=episode_id,
                step_index=i,
                at_s=start_s + ts[i] - ts[0],
                state=finite_vector(states[i], f"{episode_id} step {i} state", limits),
                action=finite_vector(actions[i], f"{episode_id} step {i} action", limits),
                gripper=None
                if gripper is None
                else finite_scalar(gripper[i], f"{episode_id} step {i} gripper"),
                cameras={name: refs[i] for name, refs in cameras.items()},
                instruction=instruction,
                state_names=state_names,
                action_names=action_names,
                is_first=i == 0,
                is_last=i == n - 1,
                source=source,
            )
        )
    return drafts
