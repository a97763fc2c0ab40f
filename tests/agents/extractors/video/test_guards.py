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


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not in /proc/self/status")


def test_an_in_band_size_change_is_refused_before_the_decoder_allocates_it():  # type: ignore[no-untyped-def]
    """A raw H.264 stream that opens as 64x48 and later carries a new SPS of 4096x4096: the opening probe
    sees only the small size, so the cap must hold inside the decoder. Before it did, the refusal came after
    FFmpeg had allocated the large pictures (75 MiB over the RSS here for 4096x4096; GBs for 16000x16000)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak RSS (VmHWM) to the current RSS
    except OSError:
        pytest.skip("/proc/self/clear_refs is not writable: the peak RSS cannot be reset here")
    stream = encode_h264(64, 48, 10, "h264") + encode_h264(4096, 4096, 2, "h264")  # two Annex-B streams
    assert len(stream) < 100_000
    config = DecodeConfig(max_pixels=64 * 48 * 4)
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_bytes("VmRSS")
    with pytest.raises(VideoDecodeError) as info:
        VideoDecoder(config).decode(stream, media_type="video/h264")
    peak = _status_bytes("VmHWM") - before
    assert info.value.reason == "resolution_too_large" and "4096x4096" in info.value.detail
    one_frame = 4096 * 4096 * 3 // 2  # a single yuv420p picture of the refused size (24 MiB)
    assert peak < one_frame, f"peak {peak >> 20} MiB over the RSS before"
