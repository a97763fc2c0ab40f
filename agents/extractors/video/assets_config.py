"""Settings of the real-media asset fetcher (Debian packages unpacked into a local cache)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


def default_cache_dir() -> Path:
    return Path(__file__).resolve().parents[3] / ".cache" / "assets"


class AssetsConfig(BaseModel):
    cache_dir: Path = Field(default_factory=default_cache_dir, description="Where packages are unpacked.")
    gnome_docs_package: str = Field(
        default="gnome-user-docs", description="Debian package with the recordings."
    )
    gnome_figures: str = Field(
        default="usr/share/help/C/gnome-help/figures",
        description="Folder of the recordings inside the package.",
    )
    timeout_s: float = Field(default=300.0, gt=0, description="Time allowed for download plus unpacking.")
