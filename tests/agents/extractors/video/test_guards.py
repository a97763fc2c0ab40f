"""Bad media gives a reasoned VideoDecodeError, fast: empty, garbage, truncated, corrupt, bombs, timeouts."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import numpy as np
import pytest

from agents.extractors.base import ExtractorError
from agents.extractors.video.decode import VideoDecoder
from agents.extractors.video.decode_config import DecodeConfig
from agents.extractors.video.media import VideoDecodeError
from tests.agents.extractors.video.conftest import decode


def encode_h264(width: int, height: int, frames: int, fmt: str, rate: int = 25) -> bytes:
    """Flat grey frames encoded by libx264: a few hundred bytes per frame whatever the resolution."""
    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        frame = av.VideoFrame(width, height, "yuv420p")
        for i, plane in enumerate(frame.planes):
            np.frombuffer(plane, np.uint8)[:] = 16 if i == 0 else 128
        for i in range(frames):
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def reason_of(source: Path | bytes, seconds: float = 5.0, **kwargs: object) -> str:
    config = DecodeConfig.model_validate(kwargs)
    started = time.perf_counter()
    with pytest.raises(VideoDecodeError) as info:
        VideoDecoder(config).decode(source)
    assert time.perf_counter() - started < seconds
    assert isinstance(info.value, ExtractorError) and info.value.extractor == "video_decode"
    assert info.value.detail
    return info.value.reason


def test_zero_bytes_and_empty_file(tmp_path):  # type: ignore[no-untyped-def]
    assert reason_of(b"") == "empty_media"
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert reason_of(empty) == "empty_media"
    assert reason_of(tmp_path / "absent.mp4") == "missing_media"


def test_garbage_bytes():  # type: ignore[no-untyped-def]
    noise = np.random.default_rng(7).integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    assert reason_of(noise) == "corrupt_media"


def test_truncated_mp4_and_webm(bikes, gnome_webm):  # type: ignore[no-untyped-def]
    data = bikes.read_bytes()
    assert reason_of(data[: len(data) // 2]) == "corrupt_media"  # the moov index is at the end
    webm = gnome_webm.read_bytes()
    with pytest.raises(VideoDecodeError) as info:
        VideoDecoder(DecodeConfig()).decode(webm[: len(webm) // 2])
    assert info.value.reason == "corrupt_media" and "truncated" in info.value.detail


def test_corrupted_packets(bikes):  # type: ignore[no-untyped-def]
    data = bytearray(bikes.read_bytes())
    rng = np.random.default_rng(0)
    for i in rng.integers(1000, 500_000, 2000):
        data[i] = int(rng.integers(0, 256))
    assert reason_of(bytes(data)) == "corrupt_media"


def test_unknown_codec():  # type: ignore[no-untyped-def]
    mkv = encode_h264(64, 64, 5, "matroska")
    assert mkv.count(b"V_MPEG4/ISO/AVC") == 1
    assert decode(mkv).luma.shape[0] == 5
    assert reason_of(mkv.replace(b"V_MPEG4/ISO/AVC", b"V_QQQQQ/ISO/QQQ")) == "unsupported_codec"


def test_resolution_bomb():  # type: ignore[no-untyped-def]
    bomb = encode_h264(7680, 4320, 2, "mp4")  # 33 Mpx per frame from ~100 kB
    assert len(bomb) < 300_000
    assert reason_of(bomb, seconds=1.0) == "resolution_too_large"


def test_frame_count_bombs():  # type: ignore[no-untyped-def]
    many = encode_h264(16, 16, 8000, "h264")  # raw stream: no duration header to trust
    assert reason_of(many) == "too_many_frames"
    assert reason_of(many, max_frames=500, seconds=1.0) == "too_many_frames"
    long_mp4 = encode_h264(16, 16, 3100, "mp4")  # 124 s declared
    assert reason_of(long_mp4, seconds=1.0) == "too_long"


def test_segment_declaring_less_than_it_holds(bikes):  # type: ignore[no-untyped-def]
    with pytest.raises(VideoDecodeError) as info:
        VideoDecoder(DecodeConfig()).decode(bikes.read_bytes(), declared_duration=2.0)
    assert info.value.reason == "too_many_frames"
    assert len(VideoDecoder(DecodeConfig()).decode(bikes.read_bytes(), declared_duration=10.0)) == 250
    with pytest.raises(VideoDecodeError) as info:
        VideoDecoder(DecodeConfig()).decode(bikes.read_bytes(), declared_duration=float("nan"))
    assert info.value.reason == "corrupt_media"


def test_wall_clock_timeout(gnome_webm):  # type: ignore[no-untyped-def]
    assert reason_of(gnome_webm, seconds=2.0, timeout_s=0.05) == "decode_timeout"


def test_resolution_cap_is_configurable(bikes):  # type: ignore[no-untyped-def]
    assert reason_of(bikes, max_pixels=320 * 240) == "resolution_too_large"
    assert len(decode(bikes, max_pixels=640 * 272)) == 250
