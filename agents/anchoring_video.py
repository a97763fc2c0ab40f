"""Video anchoring: a window's segments → one remuxed stream → the video experts.

Segments were cut at key frames and re-muxed without re-encoding; a window concatenates their
packets into one in-memory Matroska container (no re-encoding either) and decodes it once, so
scene cuts across segment boundaries are seen and frame indices are window-relative. OCR runs only
when the window looks like a screen recording (large exactly-flat areas, which camera video lacks).
"""

from __future__ import annotations

import io
import logging
from fractions import Fraction

import av
import numpy as np

from agents.anchoring import KeyFrame, WindowAnchoring, WindowFacts
from agents.extractors.pipelines_config import AnchorVideoConfig
from agents.extractors.video.decode import VideoDecoder
from agents.extractors.video.media import VideoDecodeError, open_container
from agents.extractors.video.pipeline import VideoExpertPipeline, plugin_video_experts
from agents.extractors.video.pipeline_config import VideoPipelineConfig
from agents.extractors.video.window import VideoWindow
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import VideoSegment
from core.window import ClosedWindow

log = logging.getLogger(__name__)

SCREEN_FLAT_FRACTION = 0.6
SCREEN_STILL_FRACTION = 0.9


JOINED_TYPE = "video/x-matroska"  # what concat_segments writes for more than one segment


def concat_segments(
    parts: list[bytes], media_types: list[str | None] | None = None, max_pixels: int | None = None
) -> bytes:
    """Packets of every segment, in order, in one Matroska container (stream copy, no re-encoding).

    Each segment is opened only by the demuxers of its declared media type (`media_types`, in order;
    any allowed video container where None), as the decoder would open it."""
    if len(parts) == 1:
        return parts[0]
    types = media_types or [None] * len(parts)
    out_buf = io.BytesIO()
    try:
        with av.open(out_buf, mode="w", format="matroska") as out:
            ostream = None
            offset = 0
            for data, media_type in zip(parts, types, strict=True):
                with open_container(data, media_type, max_pixels) as src:
                    if not src.streams.video:
                        raise VideoDecodeError("no_video_stream", "segment has no video stream")
                    istream = src.streams.video[0]
                    if istream.codec_context is None:
                        # A damaged header can name a codec id FFmpeg has no decoder for: nothing to
                        # copy the stream from (PyAV raises a bare ValueError), and nothing could decode it.
                        raise VideoDecodeError("unsupported_codec", "no decoder for a segment's video stream")
                    if ostream is None:
                        ostream = out.add_stream_from_template(istream)
                        tb = istream.time_base or Fraction(1, 90000)
                    last = offset
                    for packet in src.demux(istream):
                        if packet.dts is None and packet.pts is None:
                            continue
                        src_tb = istream.time_base or tb
                        shift = int(offset * tb / src_tb) if src_tb else 0
                        if packet.pts is not None:
                            packet.pts += shift
                        if packet.dts is not None:
                            packet.dts += shift
                        end = (packet.pts or packet.dts or 0) + (packet.duration or 0)
                        last = max(last, int(end * src_tb / tb))
                        packet.stream = ostream
                        out.mux(packet)
                    offset = last
    except av.error.FFmpegError as exc:
        raise VideoDecodeError("corrupt_media", f"cannot join segments: {exc}") from None
    return out_buf.getvalue()


def looks_like_screen(window: VideoWindow) -> bool:
    """Screen recordings are flat in space (UI areas of one colour) and still in time (pixels that do
    not change between frames), where camera footage has sensor noise and motion. Measured on the
    analysis frames: GNOME recording 0.70 flat / 1.00 still; bikes, bigbuckbunny, carphone and the UMI
    camera at most 0.48 flat / 0.68 still."""
    if len(window) < 2:
        return False
    luma = window.luma.astype(np.int16)
    sample = luma[:: max(1, len(window) // 8)]
    flat = float(np.mean(np.abs(np.diff(sample, axis=2)) <= 1))
    still = np.abs(np.diff(luma, axis=0)) <= 1
    still_median = float(np.median(still.reshape(still.shape[0], -1).mean(axis=1)))
    return flat >= SCREEN_FLAT_FRACTION and still_median >= SCREEN_STILL_FRACTION


class VideoAnchoring(WindowAnchoring):
    def __init__(
        self, blobs: BlobStore, limits: LimitsConfig, ocr: bool, config: VideoPipelineConfig | None = None
    ) -> None:
        super().__init__(blobs, limits)
        self.ocr = ocr
        self.config = config or AnchorVideoConfig()
        plugin_video_experts()  # a broken plug-in expert fails here, at start-up, not on every window

    def facts(self, window: ClosedWindow) -> WindowFacts:
        segments: list[VideoSegment] = window.records
        parts = [self.media(s.media) for s in segments]
        types: list[str | None] = [s.media.media_type for s in segments]
        start = segments[0].start_time
        declared = sum(s.duration_s for s in segments) or None
        cap = self.config.decode.max_pixels
        video = VideoDecoder(self.config.decode).decode(
            concat_segments(parts, types, cap),
            time_offset=start,
            declared_duration=declared,
            media_type=types[0] if len(parts) == 1 else JOINED_TYPE,
        )
        ocr = self.ocr and looks_like_screen(video)
        pipeline = VideoExpertPipeline.from_config(self.config.model_copy(update={"ocr_enabled": ocr}))
        extraction = pipeline.run(video)
        end = segments[-1].start_time + segments[-1].duration_s
        num_frames = int(video.indices[-1]) + 1 if len(video) else 0
        # the frames a world-model sample will cite come first, so the per-window cap keeps them
        cited = self.cited_frames("video", extraction.anchors, num_frames, start, end, None)
        images = pipeline.encode_frames(extraction.window, cited) if cited else []
        keys = {k.frame_index for k in extraction.key_frames}
        images += [k for k in extraction.key_frames if k.frame_index not in {i.frame_index for i in images}]
        frames = [
            KeyFrame(
                k.frame_index,
                k.timestamp,
                k.data,
                k.media_type,
                _role(k.frame_index in keys),
                k.width,
                k.height,
                k.scale,
            )
            for k in images
        ]
        return WindowFacts(extraction.anchors, frames, num_frames, start, end, None)


def _role(is_key_frame: bool) -> str:
    return "key_frame" if is_key_frame else "cited"
