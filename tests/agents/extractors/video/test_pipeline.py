"""The expert pipeline end to end: anchors, stored key frames, AnchorSet records, VideoSegments."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from agents.extractors.base import ExtractorError
from agents.extractors.video.decode import VideoDecoder
from agents.extractors.video.decode_config import DecodeConfig
from agents.extractors.video.keyframes import KeyFrameExtractor
from agents.extractors.video.keyframes_config import KeyFrameConfig
from agents.extractors.video.media import VideoDecodeError
from agents.extractors.video.ocr import OcrExtractor
from agents.extractors.video.ocr_config import OcrConfig
from agents.extractors.video.pipeline import VideoExpertPipeline, extract_video, segment_window
from agents.extractors.video.pipeline_config import VideoPipelineConfig
from core.blobstore import BlobStore
from core.records import AnchorSet, BBox, MediaRef, SourceSpan, VideoSegment
from tests.agents.extractors.video.conftest import decode, remux


def test_bikes_end_to_end(bikes, tmp_path):  # type: ignore[no-untyped-def]
    result = extract_video(bikes, VideoPipelineConfig())
    types = [a.type for a in result.anchors]
    assert types.count("scene_cut") == 5 and types.count("key_frame") == 6 and types.count("motion") == 6
    assert "ocr_text" not in types
    assert set(result.seconds) >= {"decode", "scene_cut", "key_frame", "motion", "stall", "encode_key_frames"}
    assert [k.frame_index for k in result.key_frames] == [a.frame_index for a in result.of_type("key_frame")]
    for key in result.key_frames:
        image = Image.open(io.BytesIO(key.data))
        assert (image.format, image.size, key.media_type) == ("JPEG", (640, 272), "image/jpeg")
    blobs = BlobStore.for_dir(tmp_path / "frames")
    refs = [k.store(blobs) for k in result.key_frames]
    assert all(blobs.check_uri(r.uri) for r in refs)
    stored = blobs.get(
        MediaRef(
            media_type="image/jpeg",
            uri=refs[0].uri,
            sha256=refs[0].sha256,
            size_bytes=len(result.key_frames[0].data),
        ),
        max_bytes=10**7,
    )
    assert stored == result.key_frames[0].data
    record = AnchorSet(
        window_id="bikes:0",
        domain="video",
        key="bikes",
        span=SourceSpan(
            topic="tailor.raw.video",
            partition=0,
            first_offset=0,
            last_offset=0,
            start_time=0.0,
            end_time=10.0,
        ),
        num_frames=len(result.window),
        key_frames=refs,
        anchors=result.anchors,
        created_at=time.time(),
    )
    again = AnchorSet.model_validate_json(record.model_dump_json())
    assert [a.anchor_id for a in again.anchors] == [a.anchor_id for a in result.anchors]
    assert len({a.anchor_id for a in result.anchors}) == len(result.anchors)


def test_png_frames_downscaled(bbb):  # type: ignore[no-untyped-def]
    result = extract_video(bbb, VideoPipelineConfig(frame_format="png", frame_max_side=640))
    assert len(result.key_frames) == 1
    image = Image.open(io.BytesIO(result.key_frames[0].data))
    assert (image.format, image.size) == ("PNG", (640, 360))


def test_steps_in_the_wrong_order_fail_clearly(bikes):  # type: ignore[no-untyped-def]
    pipeline = VideoExpertPipeline([KeyFrameExtractor(KeyFrameConfig())], encoder=None, frame_max_side=None)
    with pytest.raises(ExtractorError) as info:
        pipeline.run(decode(bikes))
    assert info.value.reason == "missing_prerequisite"


def test_video_segment_inline_and_claim_check(bikes, tmp_path):  # type: ignore[no-untyped-def]
    data = remux(bikes, 1.2, 5.48)  # two GOPs: shots 30-75 and 76-136
    inline = VideoSegment(
        stream_id="bikes",
        seq=1,
        start_time=1.2,
        duration_s=4.28,
        event_time=time.time(),
        media=MediaRef.inline(data, "video/mp4", 640, 272),
        codec="h264",
        fps=25.0,
    )
    decoder = VideoDecoder(DecodeConfig())
    pipeline = VideoExpertPipeline.from_config(VideoPipelineConfig())
    window = segment_window(inline, decoder, None, max_bytes=10**7)
    cuts = pipeline.run(window).of_type("scene_cut")
    assert [a.frame_index for a in cuts] == [46]  # 76 - 30, within the window
    assert cuts[0].timestamp == pytest.approx(3.04, abs=0.01)  # stream time
    blobs = BlobStore.for_dir(tmp_path / "media")
    claim = inline.model_copy(update={"media": blobs.put(data, "video/mp4", 640, 272)})
    assert len(segment_window(claim, decoder, blobs, max_bytes=10**7)) == 107
    with pytest.raises(VideoDecodeError) as info:
        segment_window(claim, decoder, None, max_bytes=10**7)
    assert info.value.reason == "blob_store_missing"
    with pytest.raises(VideoDecodeError) as info:
        segment_window(claim, decoder, blobs, max_bytes=1000)
    assert info.value.reason == "blob_too_large"
    lying = inline.model_copy(update={"duration_s": 1.0})
    with pytest.raises(VideoDecodeError) as info:
        segment_window(lying, decoder, None, max_bytes=10**7)
    assert info.value.reason == "too_many_frames"


def test_screen_recording_with_ocr(gnome_webm, tmp_path):  # type: ignore[no-untyped-def]
    config = VideoPipelineConfig(ocr_enabled=True, ocr=OcrConfig(max_frames=1), frame_max_side=640)
    result = extract_video(gnome_webm, config)
    ocr = result.of_type("ocr_text") + result.of_type("text_appears")
    assert {a.evidence_frames[-1] for a in ocr} == {204}
    assert "Detect Displays" in {a.content for a in ocr}
    assert len(result.of_type("stall")) >= 5 and len(result.key_frames) == 7
    # issue 19.6: boxes are in the decoded frame's pixels (1024x768), the key frame is stored at 640 px;
    # the stored frame carries the scale, and the scaled box reads the same text on the stored image
    stored = next(k for k in result.key_frames if k.frame_index == 204)
    ref = stored.store(BlobStore(str(tmp_path)))
    assert (ref.width, ref.height, ref.scale) == (640, 480, 0.625)
    detect = next(a for a in ocr if a.content == "Detect Displays")
    assert detect.bbox is not None
    box = detect.bbox
    scaled = BBox(x=box.x * ref.scale, y=box.y * ref.scale, w=box.w * ref.scale, h=box.h * ref.scale)
    image = np.asarray(Image.open(io.BytesIO(stored.data)).convert("RGB"))
    assert image.shape[:2] == (480, 640)
    assert OcrExtractor(OcrConfig()).reads(image, scaled, "Detect Displays")
    assert not OcrExtractor(OcrConfig()).reads(image, box, "Detect Displays")  # the unscaled box misses it
