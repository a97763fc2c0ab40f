"""Fuzzed media probes: real images and a real video segment, truncated, bit-flipped, spliced, or with
headers that declare huge sizes or durations. Each probe answers ok or a labelled RecordError within the
per-item timeout, and memory stays bounded (peak measured from /proc/self/status).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.media_probe import probe_image, probe_video
from core.records import MediaRef, RecordError, VideoSegment
from streaming.ingest_checks import VideoCheck
from streaming.replay.video import VideoFileSource
from tests.conftest import REPO
from tests.streaming import media_bombs as mb
from tests.streaming.fuzz_strategies import damaged

LIMITS = LimitsConfig()
IMAGE_REASONS = frozenset({"empty_media", "corrupt_media", "resolution_too_large"})
VIDEO_REASONS = frozenset(
    {
        "empty_media",
        "no_video_stream",
        "corrupt_media",
        "resolution_too_large",
        "duration_too_long",
        "unsupported_codec",
        "unsupported_container",  # bytes that only a demuxer outside the allow-list would take
    }
)
MEDIA = settings(
    max_examples=60,
    deadline=timedelta(seconds=LIMITS.decode_timeout_s),  # the per-item timeout of the ingest stage
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MiB = 1 << 20


def image_outcome(data: bytes) -> str | tuple[int, int]:
    try:
        w, h = probe_image(data, max_pixels=LIMITS.max_image_pixels)
    except RecordError as exc:
        assert exc.reason in IMAGE_REASONS, (exc.reason, exc.detail)
        return exc.reason
    assert 0 < w * h <= LIMITS.max_image_pixels
    return (w, h)


def video_outcome(data: bytes) -> str:
    try:
        info = probe_video(data, max_pixels=LIMITS.max_video_pixels, max_seconds=LIMITS.max_video_seconds)
    except RecordError as exc:
        assert exc.reason in VIDEO_REASONS, (exc.reason, exc.detail)
        return exc.reason
    assert 0 < info.width * info.height <= LIMITS.max_video_pixels
    assert info.duration_s is None or info.duration_s <= LIMITS.max_video_seconds
    return "ok"


# ---- real media --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_png(shared_dir: Path) -> bytes:
    return (
        shared_dir / "data/gui/aitw/GOOGLE_APPS-523638528775825151/GOOGLE_APPS-523638528775825151_0.png"
    ).read_bytes()


@pytest.fixture(scope="module")
def real_jpeg(shared_dir: Path) -> bytes:
    return (shared_dir / "data/gui/mind2web/thumbtack-wedding-photographer/images/0.jpg").read_bytes()


@pytest.fixture(scope="module")
def real_segment(shared_dir: Path) -> bytes:
    """The first 2 s segment of the real UMI episode (H.264 224x224), cut at key frames by the replay code."""
    video = shared_dir / "data/robot/umi_cup_in_the_wild/videos/observation.image_episode_000000.mp4"
    event = next(iter(VideoFileSource(video, MediaRef.inline, LIMITS).events(0.0, 1.0)))
    data = event.record.media.data  # type: ignore[attr-defined]
    assert data is not None
    return bytes(data)


@pytest.fixture(scope="module")
def real_mkv(real_segment: bytes) -> bytes:
    return mb.remux(real_segment, "matroska")


def test_the_real_media_probe_ok(
    real_png: bytes, real_jpeg: bytes, real_segment: bytes, real_mkv: bytes
) -> None:
    assert image_outcome(real_png) == (270, 600)
    assert image_outcome(real_jpeg) == (1280, 2529)
    assert video_outcome(real_segment) == "ok" and video_outcome(real_mkv) == "ok"


# ---- damaged media -----------------------------------------------------------------------------------


@MEDIA
@given(data=st.data())
def test_damaged_images_probe_ok_or_fail_with_a_label(
    data: st.DataObject, real_png: bytes, real_jpeg: bytes
) -> None:
    source = data.draw(st.sampled_from([real_png, real_jpeg]))
    image_outcome(data.draw(damaged(source)))


@MEDIA
@given(data=st.data())
def test_damaged_video_probes_ok_or_fails_with_a_label(
    data: st.DataObject, real_segment: bytes, real_mkv: bytes
) -> None:
    source = data.draw(st.sampled_from([real_segment, real_mkv]))
    video_outcome(data.draw(damaged(source)))


@MEDIA
@given(st.binary(max_size=2048))
def test_random_bytes_are_neither_image_nor_video(raw: bytes) -> None:
    image_outcome(raw)
    video_outcome(raw)


# ---- headers that declare huge sizes -----------------------------------------------------------------


@MEDIA
@given(
    kind=st.sampled_from(["png", "jpeg", "ppm"]),
    width=st.integers(1, (1 << 31) - 1),
    height=st.integers(1, (1 << 31) - 1),
)
def test_image_headers_declaring_any_size(kind: str, width: int, height: int, real_jpeg: bytes) -> None:
    if kind == "jpeg":
        width, height = min(width, 65535), min(height, 65535)  # a JPEG frame header has 16 bits each
        data = mb.jpeg_with_size(real_jpeg, width, height)
    else:
        data = mb.png(width, height, b"\x00" * 32) if kind == "png" else mb.ppm(width, height)
    out = image_outcome(data)
    if kind == "ppm":  # not an allowed image format: no plug-in reads its header
        assert out == "corrupt_media"
    elif width * height > LIMITS.max_image_pixels:
        assert out == "resolution_too_large"
    else:
        assert out in ("corrupt_media", (width, height))


@MEDIA
@given(
    kind=st.sampled_from(["mp4", "matroska", "mpegts", "y4m"]),
    width=st.integers(16, 20_000),
    height=st.integers(16, 20_000),
)
def test_video_headers_declaring_any_size(kind: str, width: int, height: int, real_segment: bytes) -> None:
    """The H.264 SPS of the real segment (or a raw YUV4MPEG header) declares width x height."""
    if kind == "y4m":
        assert video_outcome(mb.y4m(width, height)) == "unsupported_container"  # not an allowed container
        return
    data = mb.h264_declaring(real_segment, kind, width, height)
    width, height = -(-width // 16) * 16, -(-height // 16) * 16
    out = video_outcome(data)
    if width * height > LIMITS.max_video_pixels:
        assert out in ("resolution_too_large", "corrupt_media")  # FFmpeg itself refuses some sizes at open
    else:
        assert out in ("ok", "corrupt_media")


@MEDIA
@given(millis=st.integers(0, 10**12))
def test_video_declaring_any_duration(millis: int, real_mkv: bytes) -> None:
    out = video_outcome(mb.mkv_with_duration(real_mkv, float(millis)))
    assert out == ("duration_too_long" if millis > LIMITS.max_video_seconds * 1000 else "ok")


@MEDIA
@given(st.integers(0, 1 << 20), st.integers(0, 1 << 20), st.floats(0, 1e9))
def test_segments_declaring_huge_sizes_are_refused_before_any_probe(
    width: int, height: int, duration: float
) -> None:
    """The record's own declared size and duration are checked before its bytes are even fetched."""
    ref = MediaRef(
        media_type="video/mp4",
        uri="file:///nowhere/x.mp4",
        sha256="0" * 64,
        size_bytes=10,
        width=width,
        height=height,
    )
    seg = VideoSegment(stream_id="s", seq=0, start_time=0, duration_s=duration, event_time=0, media=ref)
    check = VideoCheck(LIMITS, BlobStore("file:///nowhere-else"))
    with pytest.raises(RecordError) as info:
        check.check(seg)
    too_big = max(width, height) > 65535 or width * height > LIMITS.max_video_pixels
    if too_big:
        assert info.value.reason == "resolution_too_large"
    elif duration > LIMITS.max_video_seconds:
        assert info.value.reason == "duration_too_long"
    else:
        assert info.value.reason == "uri_outside_roots"  # and only then is the URI looked at


def test_a_codec_without_a_decoder_is_labelled(real_mkv: bytes) -> None:
    """PyAV gives no codec context for such a stream; its width was once read from None (found by atheris)."""
    assert real_mkv.count(b"V_MPEG4/ISO/AVC") == 1
    assert video_outcome(real_mkv.replace(b"V_MPEG4/ISO/AVC", b"V_TAILOR/NOCODE")) == "unsupported_codec"


# ---- memory ------------------------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        return False
    return True


# Stated bound on the peak during one probe: the largest image accepted, decoded as RGBA
# (4 bytes x max_image_pixels = 128 MiB at the defaults), plus 128 MiB for decoder tables and the interpreter.
PEAK_BOUND = 4 * LIMITS.max_image_pixels + 128 * MiB
RETAINED_BOUND = 64 * MiB  # what may stay resident after the fuzz run


def test_bombs_and_damaged_media_keep_memory_bounded(
    real_jpeg: bytes, real_segment: bytes, real_mkv: bytes
) -> None:
    if not _reset_peak():
        pytest.skip("/proc/self/clear_refs is not writable: the peak RSS cannot be reset here")
    bombs: list[tuple[str, bytes, Callable[[bytes], object]]] = [
        ("png 60000x60000", mb.png(60000, 60000, b"\x00" * 32), image_outcome),
        ("jpeg 60000x60000", mb.jpeg_with_size(real_jpeg, 60000, 60000), image_outcome),
        ("png zlib bomb at the cap", mb.png_zlib_bomb(4096, 8192), image_outcome),
        ("png zTXt bomb 256 MiB", mb.png_text_bomb(256 * MiB), image_outcome),
        ("y4m 60000x60000", mb.y4m(60000, 60000), video_outcome),
        ("mp4 h264 16000x16000", mb.h264_declaring(real_segment, "mp4", 16000, 16000), video_outcome),
        ("mkv h264 16000x16000", mb.h264_declaring(real_segment, "matroska", 16000, 16000), video_outcome),
        ("mpegts h264 16000x16000", mb.h264_declaring(real_segment, "mpegts", 16000, 16000), video_outcome),
        ("mkv declaring 30 years", mb.mkv_with_duration(real_mkv, 1e12), video_outcome),
    ]
    report = []
    for name, data, probe in bombs:
        _reset_peak()
        base = _status_kib("VmRSS") * 1024
        started = time.perf_counter()
        out = probe(data)
        elapsed = time.perf_counter() - started
        peak = _status_kib("VmHWM") * 1024 - base
        report.append((name, out, round(elapsed, 2), peak // MiB))
        assert elapsed < LIMITS.decode_timeout_s, report
        assert peak < PEAK_BOUND, report
    print("bombs (name, outcome, s, peak MiB over the RSS before):", *report, sep="\n  ")

    @settings(max_examples=60, deadline=None, database=None)
    @given(st.sampled_from([real_jpeg, real_segment, real_mkv]).flatmap(damaged))
    def fuzz(raw: bytes) -> None:
        image_outcome(raw)
        video_outcome(raw)

    _reset_peak()
    base = _status_kib("VmRSS") * 1024
    fuzz()
    peak = _status_kib("VmHWM") * 1024 - base
    retained = _status_kib("VmRSS") * 1024 - base
    print(f"damaged media: peak {peak // MiB} MiB, retained {retained // MiB} MiB over the RSS before")
    assert peak < PEAK_BOUND
    assert retained < RETAINED_BOUND


# ---- atheris (coverage-guided, in a child process: libFuzzer exits the process when done) ------------


@pytest.mark.parametrize(
    "target,runs", [("records", 20_000), ("image", 3000), ("video", 400), ("uri", 20_000)]
)
def test_atheris_finds_no_crash_hang_or_memory_blowup(
    target: str,
    runs: int,
    tmp_path: Path,
    real_png: bytes,
    real_jpeg: bytes,
    real_segment: bytes,
    real_mkv: bytes,
) -> None:
    pytest.importorskip("atheris")
    seeds = tmp_path / "corpus"
    seeds.mkdir()
    for i, blob in enumerate([real_png, real_jpeg[:20_000], real_segment, real_mkv]):
        if target in ("image", "video"):
            (seeds / f"seed{i}").write_bytes(blob)
    cmd = [
        sys.executable,
        "-m",
        "tests.streaming.atheris_targets",
        target,
        str(seeds),
        f"-runs={runs}",
        "-max_total_time=20",
        f"-timeout={int(LIMITS.decode_timeout_s)}",
        "-rss_limit_mb=1024",
        f"-artifact_prefix={tmp_path}/",
        "-max_len=131072",
        "-print_final_stats=1",
    ]
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the uri target makes its blob root there
    # Through a shell that forks it: libFuzzer's -rss_limit_mb reads the peak RSS (ru_maxrss), which a
    # process started straight from pytest inherits across fork + exec (after the model tests, pytest's
    # 1.5 GB failed the run at its first input); a grandchild forked by the small shell starts afresh.
    proc = subprocess.run(
        ["/bin/sh", "-c", '"$@"; exit $?', "sh", *cmd],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "Done" in log, log[-2000:]
    print(
        target,
        [
            line
            for line in log.splitlines()
            if line.startswith(("Done", "stat::number_of_executed_units", "stat::peak_rss_mb"))
        ],
    )
    assert (
        not list(tmp_path.glob("crash-*"))
        and not list(tmp_path.glob("oom-*"))
        and not list(tmp_path.glob("timeout-*"))
    )
