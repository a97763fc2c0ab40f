"""Hostile producers' media (issue 20), through the ingest stage in process and the video anchoring step:
a "video" that is an ffconcat script naming a local file, bytes of another format than the declared media
type, and a claim check larger than anchoring reads. Each gets a dead letter with its reason at ingest; the
anchoring decoder refuses the first two as well."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import av
import pytest
from prometheus_client import CollectorRegistry

from agents.anchoring_video import VideoAnchoring
from agents.extractors.gui.images import decode_image
from agents.extractors.video.decode import VideoDecoder
from agents.extractors.video.decode_config import DecodeConfig
from agents.extractors.video.media import VideoDecodeError
from core.blobstore import BlobStore
from core.dlq import SourcePosition
from core.limits_config import LimitsConfig
from core.media_probe import probe_video
from core.metrics import TailorMetrics
from core.records import DeadLetter, GuiAction, GuiStep, MediaRef, RecordError, TailorRecord, VideoSegment
from core.topics_config import TopicsConfig
from core.window import ClosedWindow
from streaming.ingest import IngestStage
from streaming.ingest_checks import checks_for
from streaming.stage import DeadLetterSink
from streaming.topics import spec_for
from tests.media_helpers import mp4_bytes
from tests.streaming import media_bombs as mb

# FFmpeg's concat demuxer takes this as a playlist of one file, relative to the working directory
SCRIPT = b"ffconcat version 1.0\nfile local.mp4\n"


class Letters(DeadLetterSink):
    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []

    async def send(self, letter: DeadLetter) -> None:
        self.sent.append(letter)


def ingest(record: TailorRecord, blobs: BlobStore, limits: LimitsConfig | None = None) -> list[DeadLetter]:
    """The dead letters of one record through the ingest stage (its checks, its failure path)."""
    limits = limits or LimitsConfig()
    spec = spec_for(TopicsConfig(), type(record))
    letters = Letters()
    metrics = TailorMetrics(CollectorRegistry())
    stage = IngestStage(spec, checks_for(type(record), limits, blobs), limits, metrics, letters, [], "test")
    asyncio.run(stage.process(b"k", record.to_bytes(), SourcePosition(spec.name, 0, 7)))
    return letters.sent


def segment(media: MediaRef, seq: int = 0) -> VideoSegment:
    return VideoSegment(stream_id="cam", seq=seq, start_time=0.0, duration_s=2.0, event_time=0.0, media=media)


def window(*segments: VideoSegment) -> ClosedWindow:
    return ClosedWindow("video", "cam", 0, "tailor.raw.video", 0, 0, len(segments) - 1, list(segments))


@pytest.fixture
def local_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real 20-frame H.264 mp4 named in SCRIPT, in the working directory (a worker's data folder)."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "local.mp4"
    path.write_bytes(mp4_bytes(frames=20))
    return path


def test_an_ffconcat_script_is_refused_and_its_file_never_decoded(local_video: Path, tmp_path: Path) -> None:
    with av.open(io.BytesIO(SCRIPT)) as unrestricted:  # the hazard: FFmpeg reads the named local file
        assert unrestricted.format.name == "concat"
        assert sum(1 for _ in unrestricted.decode(video=0)) == 20
    blobs = BlobStore.for_dir(tmp_path / "blobs")
    for media_type in ("video/mp4", "video/x-matroska", "video/h264"):
        (letter,) = ingest(segment(MediaRef.inline(SCRIPT, media_type)), blobs)
        assert (letter.stage, letter.reason) == ("ingest_raw_video", "unsupported_container"), letter
    with pytest.raises(RecordError) as refused:
        probe_video(SCRIPT, max_pixels=10**6, max_seconds=60)  # no declared type: any allowed container
    assert refused.value.reason == "unsupported_container"
    for media_type in (None, "video/mp4"):  # the window decoder, as anchoring calls it
        with pytest.raises(VideoDecodeError) as info:
            VideoDecoder(DecodeConfig()).decode(SCRIPT, media_type=media_type)
        assert info.value.reason == "unsupported_container"
    anchoring = VideoAnchoring(blobs, LimitsConfig(), ocr=False)
    real = MediaRef.inline(local_video.read_bytes(), "video/mp4")
    for segments in ([segment(MediaRef.inline(SCRIPT, "video/mp4"))], [segment(real), segment(real, 1)]):
        if len(segments) == 2:  # and a script among the segments that anchoring joins
            segments[1] = segment(MediaRef.inline(SCRIPT, "video/mp4"), 1)
        with pytest.raises(VideoDecodeError) as info:
            anchoring.facts(window(*segments))
        assert info.value.reason == "unsupported_container"


def test_the_declared_media_type_is_enforced(shared_dir: Path, tmp_path: Path) -> None:
    blobs = BlobStore.for_dir(tmp_path / "blobs")
    mp4 = mp4_bytes(frames=20)
    mkv = mb.remux(mp4, "matroska")
    assert ingest(segment(MediaRef.inline(mkv, "video/x-matroska")), blobs) == []
    assert ingest(segment(MediaRef.inline(mp4, "video/mp4")), blobs) == []
    (letter,) = ingest(segment(MediaRef.inline(mkv, "video/mp4")), blobs)
    assert letter.reason == "media_type_mismatch" and "matroska" in letter.detail
    (letter,) = ingest(segment(MediaRef.inline(mp4, "video/x-msvideo")), blobs)
    assert letter.reason == "unsupported_media_type"
    with pytest.raises(VideoDecodeError) as info:  # the window decoder holds to the type as well
        VideoDecoder(DecodeConfig()).decode(mkv, media_type="video/mp4")
    assert info.value.reason == "media_type_mismatch"

    png = (
        shared_dir / "data/gui/aitw/GOOGLE_APPS-523638528775825151/GOOGLE_APPS-523638528775825151_0.png"
    ).read_bytes()

    def step(media_type: str) -> GuiStep:
        shot = MediaRef.inline(png, media_type)
        return GuiStep(
            session_id="s", step_index=0, timestamp=0.0, screenshot=shot, action=GuiAction(type="home")
        )

    assert ingest(step("image/png"), blobs) == []
    (letter,) = ingest(step("image/jpeg"), blobs)
    assert (letter.stage, letter.reason) == ("ingest_raw_gui", "media_type_mismatch"), letter
    assert "PNG" in letter.detail
    (letter,) = ingest(step("image/tiff"), blobs)
    assert letter.reason == "unsupported_media_type"
    assert decode_image(png, LimitsConfig(), "image/png").size == (270, 600)
    with pytest.raises(RecordError) as refused:  # the GUI and robot extractors' decoder
        decode_image(png, LimitsConfig(), "image/jpeg")
    assert refused.value.reason == "media_type_mismatch"


def test_a_claim_check_anchoring_would_not_read_is_dead_lettered_at_ingest(tmp_path: Path) -> None:
    """One cap for ingest and anchoring: before, ingest read claim checks up to 8 x max_message_bytes and
    anchoring up to max_message_bytes, so a segment between the two passed ingest and failed its window."""
    blobs = BlobStore.for_dir(tmp_path / "blobs")
    mp4 = mp4_bytes(frames=20)
    claim = segment(blobs.put(mp4, "video/mp4"))
    small = LimitsConfig(max_message_bytes=len(mp4) // 2, max_media_bytes=len(mp4) // 2)
    (letter,) = ingest(claim, blobs, small)
    assert (letter.stage, letter.reason) == ("ingest_raw_video", "blob_too_large"), letter
    enough = LimitsConfig(max_message_bytes=len(mp4) // 2, max_media_bytes=len(mp4))
    assert ingest(claim, blobs, enough) == []
    facts = VideoAnchoring(blobs, enough, ocr=False).facts(window(claim))  # and what passed is read whole
    assert facts.num_frames == 20
