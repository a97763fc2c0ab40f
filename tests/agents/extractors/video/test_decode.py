"""The bounded decoder on real clips: luma read in place, timestamps, key frames, RGB on demand."""

from __future__ import annotations

import av
import numpy as np
import pytest

from agents.extractors.video.decode import VideoDecoder, luma_plane
from agents.extractors.video.decode_config import DecodeConfig
from tests.agents.extractors.video.conftest import decode, remux


def reference_luma(path, stride):  # type: ignore[no-untyped-def]
    """Every frame's Y plane through PyAV's planar ndarray (first `height` rows), subsampled."""
    with av.open(str(path)) as container:
        out = []
        for frame in container.decode(video=0):
            planar = frame.to_ndarray()
            out.append(
                planar[: frame.height][::stride, ::stride]
                if planar.ndim == 2
                else planar[0][::stride, ::stride]
            )
        return np.stack(out)


@pytest.mark.parametrize("clip", ["bikes", "carphone", "umi_video"])
def test_luma_matches_the_decoded_y_plane(clip, request):  # type: ignore[no-untyped-def]
    # carphone is 176 px wide (line_size padded past the width), UMI is yuv444p 224x224
    path = request.getfixturevalue(clip)
    window = decode(path)
    expected = reference_luma(path, window.stride)
    assert window.luma.shape == expected.shape
    assert np.array_equal(window.luma, expected)


def test_clip_geometry_and_times(bbb, bikes, umi_video):  # type: ignore[no-untyped-def]
    w = decode(bbb)
    assert (len(w), w.width, w.height, w.fps, w.stride, w.codec) == (132, 1280, 720, 25.0, 8, "h264")
    assert w.luma.shape == (132, 90, 160)
    assert np.allclose(w.timestamps, np.arange(132) / 25.0)
    assert list(w.indices) == list(range(132))
    u = decode(umi_video)
    assert (len(u), u.fps) == (400, 10.0)
    assert u.duration == pytest.approx(40.0)


def test_frames_view(bikes):  # type: ignore[no-untyped-def]
    w = decode(bikes)
    frames = w.frames
    assert [f.index for f in frames[:3]] == [0, 1, 2]
    assert frames[30].timestamp == pytest.approx(1.2)
    assert frames[30].luma is not None and frames[30].luma.shape == w.luma.shape[1:]


def test_time_offset_and_bytes_input(bikes):  # type: ignore[no-untyped-def]
    segment = remux(bikes, 1.2, 5.48)  # key frames at 1.2 s and 5.48 s
    window = VideoDecoder(DecodeConfig()).decode(segment, time_offset=1.2)
    assert len(window) == 137 - 30
    assert window.timestamps[0] == pytest.approx(1.2)
    assert window.timestamps[-1] == pytest.approx(5.44)
    full = decode(bikes)
    assert np.array_equal(window.luma[50], full.luma[80])


def test_keyframes_only(bikes):  # type: ignore[no-untyped-def]
    w = decode(bikes, keyframes_only=True)
    # the encoder put its key frames at the shot changes; frame indices come from the timestamps
    assert list(w.indices) == [0, 30, 76, 137, 187, 242]
    assert np.allclose(w.timestamps, [0.0, 1.2, 3.04, 5.48, 7.48, 9.68])
    full = decode(bikes)
    assert np.array_equal(w.luma, full.luma[[0, 30, 76, 137, 187, 242]])


def test_rgb_of_a_key_frames_only_window(bikes):  # type: ignore[no-untyped-def]
    w = decode(bikes, keyframes_only=True, retain_max_frames=0)
    with av.open(str(bikes)) as container:
        truth = {
            i: f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i in (76, 187)
        }
    rgb = w.rgb([2, 4])
    assert np.array_equal(rgb[2], truth[76]) and np.array_equal(rgb[4], truth[187])


def test_rgb_from_kept_frames_and_from_re_decode(bikes):  # type: ignore[no-untyped-def]
    with av.open(str(bikes)) as container:
        truth = {i: f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0))}
    w = decode(bikes, retain_max_frames=6)
    kept = w.retained_positions
    assert 0 < len(kept) <= 6
    targets = [p for p in (5, 31, 100, 160, 249) if p not in kept] + sorted(kept)[:2]
    assert len(targets) >= 5
    rgb = w.rgb(targets)
    for p in targets:
        assert rgb[p].shape == (272, 640, 3)
        assert np.array_equal(rgb[p], truth[p]), p


def test_nothing_kept_still_gives_rgb(bbb):  # type: ignore[no-untyped-def]
    w = decode(bbb, retain_max_frames=0)
    assert w.retained_positions == set()
    with av.open(str(bbb)) as container:
        truth = [f.to_ndarray(format="rgb24") for i, f in zip(range(101), container.decode(video=0))][100]
    assert np.array_equal(w.rgb([100])[100], truth)


def test_kept_frames_are_bounded_by_memory(bbb):  # type: ignore[no-untyped-def]
    frame_bytes = 1280 * 720 * 3 // 2
    w = decode(bbb, retain_max_frames=50, retain_max_bytes=4 * frame_bytes)
    assert 2 <= len(w.retained_positions) <= 4
    assert len(decode(bbb, retain_max_frames=50).retained_positions) > 10


def test_luma_plane_reads_high_bit_depth_and_semi_planar(bikes):  # type: ignore[no-untyped-def]
    with av.open(str(bikes)) as container:
        frame = next(iter(container.decode(video=0)))
    y = frame.to_ndarray()[: frame.height]
    assert np.array_equal(luma_plane(frame.reformat(format="nv12")), y)
    assert np.array_equal(luma_plane(frame.reformat(format="yuv420p10le")), y)
    rgb_luma = luma_plane(frame.reformat(format="rgb24"))  # converted, close to Y
    assert rgb_luma.shape == y.shape and np.abs(rgb_luma.astype(int) - y).mean() < 12
