"""Pick the reader for each replay path (a file or a dataset folder), detecting the format if asked.

A folder that is itself a dataset (LeRobot, rosbag2, Mind2Web step, AITW episode, GUI JSONL) becomes one
source; any other folder is searched (sorted, a few levels deep) for recordings. The readers of the
`tailor.replay_sources` entry-point group (docs/extending.md) are asked after the built-in ones.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from core import plugins
from core.limits_config import LimitsConfig
from streaming.replay.base import MediaFactory, ReplayError, ReplaySource
from streaming.replay.bridge import RldsTfrecordSource
from streaming.replay.gui_aitw import AitwEpisodeSource
from streaming.replay.gui_jsonl import GuiJsonlSource
from streaming.replay.gui_mind2web import Mind2WebSource
from streaming.replay.lerobot import LeRobotArrowSource
from streaming.replay.lerobot_parquet import LeRobotParquetSource
from streaming.replay.lerobot_parquet import incomplete as incomplete_lerobot
from streaming.replay.rosbag import RosbagSource
from streaming.replay.source_config import ReplaySourceConfig
from streaming.replay.video import VIDEO_SUFFIXES, VideoFileSource

log = logging.getLogger(__name__)

SOURCE_TYPES: tuple[type[ReplaySource], ...] = (
    Mind2WebSource,
    AitwEpisodeSource,
    GuiJsonlSource,
    LeRobotParquetSource,
    LeRobotArrowSource,
    RosbagSource,
    RldsTfrecordSource,
    VideoFileSource,
)
KINDS = ("video", "gui", "robot")
MAX_DEPTH = 3
_KNOWN = (
    f"video files ({', '.join(VIDEO_SUFFIXES)}), RLDS TFRecord files, LeRobot folders (meta/info.json or "
    "meta_data/info.json), ROS bags (.mcap, .db3, .bag files, rosbag2 folders), Mind2Web folders "
    "(queries.jsonl), AITW episodes (JSON list), GUI JSONL files"
)


def open_sources(
    paths: list[Path],
    kind: str | None,
    media: MediaFactory,
    limits: LimitsConfig,
    segment_s: float | None = None,
    *,
    config: ReplaySourceConfig | None = None,
    refused: list[tuple[Path, ReplayError]] | None = None,
) -> list[ReplaySource]:
    """One source per recording found under `paths`; ReplayError for missing, unknown or unreadable input,
    or, given `refused`, each refused path and its error go there and the other paths are still opened."""
    if kind is not None and kind not in KINDS:
        raise ReplayError("bad_kind", f"kind must be one of {KINDS}, got {kind!r}")
    cfg = config or ReplaySourceConfig()
    if segment_s is not None:
        cfg = cfg.model_copy(update={"segment_s": segment_s})
    if not paths:
        raise ReplayError("no_input", "no paths to replay")
    out: list[ReplaySource] = []
    for path in paths:
        try:
            found = _open(Path(path), kind, media, limits, cfg)
        except ReplayError as exc:
            if refused is None:
                raise
            refused.append((Path(path), exc))
            continue
        log.info("replay %s: %s", path, ", ".join(f"{s.format_name}:{s.path.name}" for s in found))
        out.extend(found)
    return out


def source_types() -> tuple[type[ReplaySource], ...]:
    """The built-in readers, then the installed plug-ins (ReplaySource subclasses), in the order `detect` asks."""
    return SOURCE_TYPES + tuple(plugin_sources())


def plugin_sources() -> list[type[ReplaySource]]:
    out = []
    for p in plugins.load(
        plugins.REPLAY_SOURCES,
        {t.format_name for t in SOURCE_TYPES},
        lambda obj: plugins.is_subclass(obj, ReplaySource),
        "a ReplaySource subclass",
    ):
        plugins.same_name(p, p.obj.format_name)
        if getattr(p.obj, "kind", None) not in KINDS:
            raise p.error("bad_kind", f"kind {getattr(p.obj, 'kind', None)!r}; must be one of {KINDS}")
        out.append(p.obj)
    return out


def known_formats() -> str:
    extra = [t.format_name for t in plugin_sources()]
    return _KNOWN + (f", and the plug-in formats {', '.join(extra)}" if extra else "")


def detect(path: Path) -> type[ReplaySource] | None:
    """The reader whose format `path` has, or None."""
    return next((t for t in source_types() if t.accepts(path)), None)


def _open(
    path: Path, kind: str | None, media: MediaFactory, limits: LimitsConfig, cfg: ReplaySourceConfig
) -> list[ReplaySource]:
    if not path.exists():
        raise ReplayError("missing_file", f"{path} does not exist")
    if not os.access(path, os.R_OK):
        raise ReplayError("unreadable", f"{path} is not readable")
    if path.is_file() and path.stat().st_size == 0:
        raise ReplayError("empty_file", f"{path} is empty")
    found = detect(path)
    if found is not None:
        if kind is not None and found.kind != kind:
            raise ReplayError("kind_mismatch", f"{path} is {found.kind} ({found.format_name}), not {kind}")
        return [found(path, media, limits, cfg)]
    if path.is_file():
        raise ReplayError(
            "unknown_format", f"{path}: not a recording Tailor reads; it reads {known_formats()}"
        )
    missing = incomplete_lerobot(path)
    if missing is not None:  # name the real cause, not "no recordings found"
        raise ReplayError("lerobot_incomplete", missing)
    sources = _search(path, kind, media, limits, cfg, MAX_DEPTH)
    if not sources:
        wanted = f"{kind} " if kind else ""
        raise ReplayError(
            "unknown_format", f"{path}: no {wanted}recordings found; Tailor reads {known_formats()}"
        )
    return sources


def _search(
    folder: Path,
    kind: str | None,
    media: MediaFactory,
    limits: LimitsConfig,
    cfg: ReplaySourceConfig,
    depth: int,
) -> list[ReplaySource]:
    out: list[ReplaySource] = []
    try:
        children = sorted(folder.iterdir())
    except OSError as exc:
        raise ReplayError("unreadable", f"{folder}: {exc}") from None
    for child in children:
        if child.name.startswith("."):
            continue
        if child.is_file() and child.stat().st_size == 0:
            log.warning("replay: skipping empty file %s", child)
            continue
        found = detect(child)
        if found is not None:
            if kind is None or found.kind == kind:
                out.append(found(child, media, limits, cfg))
        elif child.is_dir() and depth > 1:
            out.extend(_search(child, kind, media, limits, cfg, depth - 1))
    return out
