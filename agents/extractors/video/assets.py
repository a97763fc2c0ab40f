"""Real screen recordings from the Debian package `gnome-user-docs` (CC-BY-SA-3.0), fetched on demand.

`apt-get download` then `dpkg-deb -x` into the cache, once; later calls return the cached path.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from agents.extractors.video.assets_config import AssetsConfig
from core.errors import TailorError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class AssetError(TailorError, RuntimeError):
    """A labelled failure of this module (`reason`, `detail`)."""


def gnome_help_video(name: str, config: AssetsConfig | None = None) -> Path:
    """Path of `figures/<name>` (e.g. display-dual-monitors.webm) from gnome-user-docs."""
    cfg = config or AssetsConfig()
    if not _NAME.match(name):
        raise AssetError("bad_asset_name", f"{name!r} is not a plain file name")
    root = cfg.cache_dir / cfg.gnome_docs_package
    path = root / cfg.gnome_figures / name
    if not root.is_dir():
        _unpack_package(cfg.gnome_docs_package, root, cfg)
    if not path.is_file():
        raise AssetError("asset_missing", f"{name} is not in {cfg.gnome_docs_package}")
    return path


def _unpack_package(package: str, target: Path, cfg: AssetsConfig) -> None:
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise AssetError("asset_unavailable", f"{tool} is not installed")
    cfg.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cfg.cache_dir) as tmp:
        work = Path(tmp)
        _run(["apt-get", "download", package], work, cfg.timeout_s)
        debs = sorted(work.glob(f"{package}_*.deb"))
        if not debs:
            raise AssetError("asset_unavailable", f"apt-get download {package} produced no .deb")
        _run(["dpkg-deb", "-x", str(debs[-1]), str(work / "root")], work, cfg.timeout_s)
        try:
            (work / "root").rename(target)
        except OSError:
            if not target.is_dir():  # another process may have won the race
                raise
    log.info("unpacked %s into %s", package, target)


def _run(cmd: list[str], cwd: Path, timeout_s: float) -> None:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise AssetError("asset_timeout", f"{' '.join(cmd)} passed {timeout_s:g} s") from None
    if done.returncode != 0:
        raise AssetError("asset_unavailable", f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
