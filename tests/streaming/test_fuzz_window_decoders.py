"""Fuzzed window decoders (issue 20: the fuzzers reached record parsing and the ingest probes, not what
decodes a closed window). A real segment in each allowed container, damaged, declared as any video type,
goes through the window decoder and through a whole video window's anchoring (segments joined, decoded,
experts run): each ends in facts or a labelled refusal, within the limits, and never anything else."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.anchoring_video import VideoAnchoring
from agents.extractors.base import ExtractorError
from agents.extractors.video.decode import VideoDecoder
from agents.extractors.video.decode_config import DecodeConfig
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.media_formats import VIDEO_CONTAINERS
from core.records import MediaRef, VideoSegment
from core.window import ClosedWindow
from streaming.replay.video import VideoFileSource
from tests.streaming import media_bombs as mb
from tests.streaming.fuzz_strategies import damaged

LIMITS = LimitsConfig()
DECODE = DecodeConfig()
# what a window decoder may answer for bytes it will not decode (VideoDecodeError / ExtractorError reasons)
DECODE_REASONS = frozenset(
    {
        "empty_media",
        "no_video_stream",
        "corrupt_media",
        "unsupported_codec",
        "unsupported_container",
        "unsupported_media_type",
        "media_type_mismatch",  # bytes of another allowed container than the declared type's
        "resolution_too_large",
        "too_long",
        "too_many_frames",
        "decode_timeout",
    }
)
FORMATS = {"mp4": "video/mp4", "matroska": "video/x-matroska", "mpegts": "video/mp2t", "h264": "video/h264"}
WINDOWS = settings(
    max_examples=60,
    deadline=timedelta(seconds=DECODE.timeout_s),
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


class Containers(dict[str, bytes]):
    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example: not 4 videos' bytes
        return f"Containers({sorted(self)})"


@pytest.fixture(scope="module")
def containers(shared_dir: Path) -> Containers:
    """The first 2 s segment of the real UMI episode (H.264 224x224), stream-copied into each allowed container."""
    video = shared_dir / "data/robot/umi_cup_in_the_wild/videos/observation.image_episode_000000.mp4"
    event = next(iter(VideoFileSource(video, MediaRef.inline, LIMITS).events(0.0, 1.0)))
    data = event.record.media.data  # type: ignore[attr-defined]
    assert data is not None
    return Containers({fmt: bytes(data) if fmt == "mp4" else mb.remux(bytes(data), fmt) for fmt in FORMATS})


@pytest.fixture(scope="module")
def anchoring(tmp_path_factory: pytest.TempPathFactory) -> VideoAnchoring:
    return VideoAnchoring(BlobStore.for_dir(tmp_path_factory.mktemp("fuzz-windows")), LIMITS, ocr=False)


def refused(exc: ExtractorError) -> str:
    assert exc.reason in DECODE_REASONS, (exc.reason, exc.detail)
    return exc.reason


def test_every_container_decodes_whole(containers: Containers, anchoring: VideoAnchoring) -> None:
    for fmt, data in containers.items():
        assert len(VideoDecoder(DECODE).decode(data, media_type=FORMATS[fmt])) > 0, fmt
    facts = anchoring.facts(window([(containers["mp4"], "video/mp4"), (containers["mpegts"], "video/mp2t")]))
    assert facts.num_frames > 0 and facts.anchors


def test_a_segment_naming_an_unknown_codec_is_refused_when_joined(
    containers: Containers, anchoring: VideoAnchoring
) -> None:
    """Found by the fuzzer below in CI: one flipped byte in Matroska's CodecID (V_MPEG4/ISO/AVC → V^MPEG4…)
    leaves a video stream without a codec, and joining it raised a bare ValueError out of PyAV."""
    unknown = containers["matroska"].replace(b"V_MPEG4/ISO/AVC", b"V^MPEG4/ISO/AVC", 1)
    assert unknown != containers["matroska"]
    with pytest.raises(ExtractorError) as err:
        anchoring.facts(window([(unknown, "video/x-matroska"), (containers["h264"], "video/h264")]))
    assert err.value.reason == "unsupported_codec"


def window(parts: list[tuple[bytes, str]]) -> ClosedWindow:
    segments = [
        VideoSegment(
            stream_id="cam",
            seq=i,
            start_time=2.0 * i,
            duration_s=2.0,
            event_time=0.0,
            media=MediaRef.inline(data, media_type),
        )
        for i, (data, media_type) in enumerate(parts)
    ]
    return ClosedWindow("video", "cam", 0, "tailor.raw.video", 0, 0, len(parts) - 1, segments)


@WINDOWS
@given(data=st.data())
def test_damaged_containers_decode_or_are_refused_with_a_label(
    data: st.DataObject, containers: Containers
) -> None:
    fmt = data.draw(st.sampled_from(sorted(FORMATS)))
    declared = data.draw(st.sampled_from([FORMATS[fmt], *sorted(VIDEO_CONTAINERS)]))  # right or any type
    raw = data.draw(damaged(containers[fmt]))
    try:
        video = VideoDecoder(DECODE).decode(raw, media_type=declared)
    except ExtractorError as exc:
        refused(exc)
        return
    assert 0 < len(video) <= DECODE.max_frames
    assert video.width * video.height <= DECODE.max_pixels


@WINDOWS
@given(data=st.data())
def test_windows_with_a_damaged_segment_anchor_or_are_refused_with_a_label(
    data: st.DataObject, containers: Containers, anchoring: VideoAnchoring
) -> None:
    """Two segments joined into one window (the concat path), one of them damaged, in any order."""
    good, bad = data.draw(st.sampled_from(sorted(FORMATS))), data.draw(st.sampled_from(sorted(FORMATS)))
    parts = [(containers[good], FORMATS[good]), (data.draw(damaged(containers[bad])), FORMATS[bad])]
    if data.draw(st.booleans()):
        parts.reverse()
    try:
        facts = anchoring.facts(window(parts))
    except ExtractorError as exc:
        refused(exc)
        return
    assert 0 < facts.num_frames <= DECODE.max_frames
    assert all(0 <= a.frame_index < facts.num_frames for a in facts.anchors)
