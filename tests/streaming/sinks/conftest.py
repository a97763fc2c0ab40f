"""Fixtures of the sink tests: real key frames (AITW screenshots, UMI video frames decoded with PyAV) in a
content-addressed frame store, and examples that point at them."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import pytest
from PIL import Image

from core.blobstore import BlobStore
from core.records import FrameRef
from tests.apt_helpers import apt_binaries
from tests.webdriver import ChromeDriver

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO / ".." / "shared"
AITW = SHARED / "data" / "gui" / "aitw" / "GOOGLE_APPS-523638528775825151"
UMI_VIDEO = SHARED / "data" / "robot" / "umi_cup_in_the_wild" / "videos"
UMI_VIDEO = UMI_VIDEO / "observation.image_episode_000000.mp4"


@dataclass(frozen=True)
class RealFrame:
    data: bytes
    media_type: str
    width: int
    height: int


@pytest.fixture(autouse=True)
def _hf_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def real_frames() -> list[RealFrame]:
    """4 AITW screenshots (PNG 270x600) and 6 UMI video frames (decoded with PyAV, JPEG 224x224)."""
    if not AITW.is_dir() or not UMI_VIDEO.is_file():
        pytest.skip(f"real test data not found under {SHARED.resolve()} (../shared is absent)")
    frames = []
    for png in sorted(AITW.glob("*.png")):
        data = png.read_bytes()
        with Image.open(io.BytesIO(data)) as img:
            frames.append(RealFrame(data, "image/png", *img.size))
    with av.open(str(UMI_VIDEO)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= 60:
                break
            if i % 10:
                continue
            buf = io.BytesIO()
            frame.to_image().save(buf, format="JPEG", quality=90)
            frames.append(RealFrame(buf.getvalue(), "image/jpeg", frame.width, frame.height))
    return frames


@pytest.fixture
def frame_store(tmp_path: Path) -> BlobStore:
    return BlobStore.for_dir(tmp_path / "frames")


@pytest.fixture
def frame_refs(frame_store: BlobStore, real_frames: list[RealFrame]) -> list[FrameRef]:
    refs = []
    for i, f in enumerate(real_frames):
        ref = frame_store.put(f.data, f.media_type, f.width, f.height)
        assert ref.uri is not None and ref.sha256 is not None
        refs.append(FrameRef(frame_index=i, timestamp=i * 0.1, uri=ref.uri, sha256=ref.sha256))
    return refs


@pytest.fixture
def hf_cache(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "hf-cache"
    path.mkdir()
    yield str(path)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromeDriver]:
    """Debian's headless `chromium` behind its `chromedriver` (both installed with apt-get when missing)."""
    found = apt_binaries(["chromium", "chromium-driver"], ["chromium", "chromedriver"])
    driver = ChromeDriver(found["chromedriver"], found["chromium"], tmp_path_factory.mktemp("chromium"))
    yield driver
    driver.close()
