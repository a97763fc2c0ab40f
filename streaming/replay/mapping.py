"""The `--mapping` of `tailor replay`: a TOML file, or the name of a built-in preset (`bridge`, `umi`).

A file has up to three tables, one per format: `[rosbag]` (rosbag_config.RosbagMapping), `[rlds]` and
`[lerobot]` (mapping_config). A file without any of them is a ROS bag mapping at top level, the form
docs/formats/rosbag.md shows. Presets are such files under streaming/replay/presets/.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from streaming.replay.mapping_config import LeRobotMapping, RldsMapping
from streaming.replay.rosbag_config import MappingError, RosbagMapping
from streaming.replay.source_config import ReplaySourceConfig

PRESETS = Path(__file__).parent / "presets"
_TABLES: dict[str, type[BaseModel]] = {
    "rosbag": RosbagMapping,
    "rlds": RldsMapping,
    "lerobot": LeRobotMapping,
}


def presets() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.toml"))


def resolve_mapping(spec: str | Path) -> Path:
    """The file a `--mapping` value names: an existing file, else a preset of that name."""
    path = Path(spec)
    if path.is_file():
        return path
    preset = PRESETS / f"{spec}.toml"
    if str(spec) in presets():
        return preset
    raise MappingError(
        f"mapping {str(spec)!r} is neither a file nor a preset (presets: {', '.join(presets())})"
    )


def load_replay_mapping(spec: str | Path, base: ReplaySourceConfig | None = None) -> ReplaySourceConfig:
    """`base` (default settings) with the mappings of the file or preset `spec`."""
    path = resolve_mapping(spec)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"mapping file {path}: {exc}") from None
    tables: dict[str, Any] = {name: data.pop(name) for name in list(data) if name in _TABLES}
    if data:
        if "rosbag" in tables:
            raise MappingError(
                f"mapping file {path}: {', '.join(sorted(data))}: put ROS bag keys in [rosbag] "
                "or at top level, not both"
            )
        tables["rosbag"] = data  # the top-level form of a ROS bag mapping
    update: dict[str, BaseModel] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise MappingError(f"mapping file {path}: {name} must be a table")
        try:
            update[name] = _TABLES[name].model_validate(table)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in (name, *first.get("loc", ())))
            raise MappingError(f"mapping file {path}: {where}: {first.get('msg')}") from None
    return (base or ReplaySourceConfig()).model_copy(update=update)
