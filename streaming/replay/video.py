"""Video files -> VideoSegment records, cut at key frames and re-muxed without re-encoding.

Two passes over the file. The plan pass demuxes packet headers only: it checks the declared frame
size, finds the cut points (the first key frame at least `segment_s` after the segment start), enforces
the per-segment duration cap and detects a truncated file (packets covering less time than the
container declares), all before the first segment is emitted. The cut pass copies each segment's
packets into a fresh container of the same family (mp4 -> mp4, webm -> webm, anything else ->
matroska), with timestamps rebased so the segment starts at 0; every segment decodes on its own.
Only the first video stream is kept (audio and subtitles are dropped). Packets before the first key
frame cannot be decoded alone and are skipped.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import av

from core.records import VideoSegment
from streaming.replay.base import ReplayError, ReplayEvent, ReplaySource, wall_time
from streaming.replay.checks import Deadline, sanitize_id
from streaming.replay.video_reencode import CODEC as REENCODED_CODEC
from streaming.replay.video_reencode import MEDIA_TYPE as REENCODED_TYPE
from streaming.replay.video_reencode import EncodedSegment, reencode

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".ts", ".flv", ".ogv", ".mpg", ".mpeg")
_MP4_SUFFIXES = (".mp4", ".m4v", ".mov")
_MP4_CODECS = ("h264", "hevc", "mpeg4", "av1", "vp9")
_WEBM_CODECS = ("vp8", "vp9", "av1")
TRUNCATION_SLACK_S = 0.5  # declared length may exceed the packets' span by this, 3 frames or 2 %


@dataclass(frozen=True)
class _Cut:
    first: int  # index of the first packet (demux order, among kept packets)
    end: int  # one past the last packet
    start_pts: int  # smallest pts in the segment
    start_s: float  # seconds since the recording start
    duration_s: float


@dataclass(frozen=True)
class _Plan:
    cuts: list[_Cut]
    skipped: int  # packets before the first key frame
    codec: str
    width: int
    height: int
    fps: float | None
    muxer: str
    media_type: str


class VideoFileSource(ReplaySource):
    kind: ClassVar = "video"
    record_type: ClassVar = VideoSegment
    format_name: ClassVar[str] = "video-file"

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES

    def events(self, t0: float, rate: float) -> Iterator[ReplayEvent]:
        plan = self._plan()
        stream_id = sanitize_id(self.path.stem, "stream")
        longest = max(c.duration_s for c in plan.cuts)
        cap = self.config.max_gop_s
        if cap is not None and longest > cap:
            log.warning(
                "%s: %.1f s without a key frame (max_gop_s %.1f): re-encoding into %.1f s segments",
                self.path,
                longest,
                cap,
                self.config.segment_s,
            )
            yield from self._reencoded(plan, stream_id, t0, rate)
            return
        for seq, (cut, data) in enumerate(self._segments(plan)):
            media = self.media(data, plan.media_type, plan.width, plan.height)
            record = VideoSegment(
                stream_id=stream_id,
                seq=seq,
                start_time=cut.start_s,
                duration_s=cut.duration_s,
                event_time=wall_time(t0, cut.start_s, rate),
                media=media,
                codec=plan.codec,
                fps=plan.fps,
                source=self.path.name,
                is_last=seq == len(plan.cuts) - 1,
            )
            yield ReplayEvent(key=stream_id, record=record, at_s=cut.start_s)

    def _reencoded(self, plan: _Plan, stream_id: str, t0: float, rate: float) -> Iterator[ReplayEvent]:
        deadline = Deadline(self.limits.decode_timeout_s, f"re-encode {self.path.name}")
        deadline.tick()
        with self._open() as container:
            segments = reencode(container, self.config.segment_s, deadline, str(self.path))
            ahead: EncodedSegment | None = next(segments)
            seq = 0
            while ahead is not None:  # one segment ahead, so the last one is known as last
                seg, ahead = ahead, next(segments, None)
                record = VideoSegment(
                    stream_id=stream_id,
                    seq=seq,
                    start_time=seg.start_s,
                    duration_s=seg.duration_s,
                    event_time=wall_time(t0, seg.start_s, rate),
                    media=self.media(seg.data, REENCODED_TYPE, seg.width, seg.height),
                    codec=REENCODED_CODEC,
                    fps=plan.fps,
                    source=self.path.name,
                    is_last=ahead is None,
                )
                yield ReplayEvent(key=stream_id, record=record, at_s=seg.start_s)
                seq += 1

    def _open(self) -> av.container.InputContainer:
        try:
            size = self.path.stat().st_size
        except OSError as exc:
            raise ReplayError("missing_file", f"{self.path}: {exc.strerror or exc}") from None
        if size == 0:
            raise ReplayError("empty_file", f"{self.path} is empty")
        try:
            return av.open(str(self.path), mode="r", metadata_errors="ignore")
        except av.error.FFmpegError as exc:
            raise ReplayError("corrupt_media", f"{self.path}: {exc}") from None

    def _plan(self) -> _Plan:
        deadline = Deadline(self.limits.decode_timeout_s, f"demux {self.path.name}")
        deadline.tick()
        with self._open() as container:
            if not container.streams.video:
                raise ReplayError("no_video_stream", f"{self.path} has no video stream")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            width, height = int(ctx.width or 0), int(ctx.height or 0)
            if width <= 0 or height <= 0:
                raise ReplayError("corrupt_media", f"{self.path}: video stream declares no frame size")
            if width * height > self.limits.max_video_pixels:
                raise ReplayError(
                    "resolution_too_large",
                    f"{self.path}: {width}x{height} > cap of {self.limits.max_video_pixels} pixels",
                )
            if stream.time_base is None:
                raise ReplayError("corrupt_media", f"{self.path}: video stream has no time base")
            tb = stream.time_base
            packets = _packet_times(container, stream, deadline, self.path)
            declared_s = _declared_seconds(container, stream, tb)
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else None
            # The codec's own name (av1), not the decoder's (libdav1d): it picks the output family and
            # is what the record advertises.
            codec = ctx.codec.canonical_name
        muxer, media_type = _output_family(self.path, codec)
        self._check_complete(packets, declared_s, tb, fps)
        cuts, skipped = self._cut(packets, tb, fps)
        if skipped:
            log.warning("%s: skipped %d packets before the first key frame", self.path, skipped)
        return _Plan(cuts, skipped, codec, width, height, fps, muxer, media_type)

    def _check_complete(
        self,
        packets: list[tuple[int, int, bool]],
        declared_s: float | None,
        tb: Fraction,
        fps: float | None,
    ) -> None:
        if not packets:
            raise ReplayError("corrupt_media", f"{self.path}: no video packets")
        # Judged by time, not by counting packets against the declared frame count: a variable-rate
        # AVI declares a slot per frame period and leaves most empty (68 frames over 444 slots is whole),
        # while a file cut short always loses the time its missing packets would have covered.
        if declared_s is not None:
            first = min(p[0] for p in packets)
            span = float((max(p[0] + p[1] for p in packets) - first) * tb)
            frames_s = 3.0 / fps if fps else 0.0
            if declared_s - span > max(TRUNCATION_SLACK_S, frames_s, 0.02 * declared_s):
                raise ReplayError(
                    "truncated_media", f"{self.path}: packets cover {span:.2f}s of {declared_s:.2f}s declared"
                )

    def _cut(
        self, packets: list[tuple[int, int, bool]], tb: Fraction, fps: float | None
    ) -> tuple[list[_Cut], int]:
        first_key = next((i for i, p in enumerate(packets) if p[2]), None)
        if first_key is None:
            raise ReplayError("corrupt_media", f"{self.path}: no key frame")
        origin = min(p[0] for p in packets[first_key:])
        starts = [first_key]
        for i in range(first_key + 1, len(packets)):
            pts, _dur, key = packets[i]
            if key and (pts - packets[starts[-1]][0]) * tb >= self.config.segment_s:
                starts.append(i)
        cuts = []
        for n, first in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(packets)
            seg = packets[first:end]
            start_pts = min(p[0] for p in seg)
            if end < len(packets):
                stop = min(p[0] for p in packets[end:])
            else:
                stop = max(p[0] + p[1] for p in seg)
            duration = float((stop - start_pts) * tb)
            if duration > self.limits.max_video_seconds:
                raise ReplayError(
                    "segment_too_long",
                    f"{self.path}: segment {n} runs {duration:.1f}s without a key frame "
                    f"(cap {self.limits.max_video_seconds}s)",
                )
            cuts.append(_Cut(first, end, start_pts, float((start_pts - origin) * tb), max(duration, 0.0)))
        return cuts, first_key

    def _segments(self, plan: _Plan) -> Iterator[tuple[_Cut, bytes]]:
        deadline = Deadline(self.limits.decode_timeout_s, f"remux {self.path.name}")
        deadline.tick()
        with self._open() as container:
            stream = container.streams.video[0]
            cut_iter = iter(plan.cuts)
            cut = next(cut_iter)
            buffer: list[av.Packet] = []
            index = 0
            try:
                for packet in container.demux(stream):
                    deadline.tick()
                    if packet.size == 0 or (packet.pts is None and packet.dts is None):
                        continue
                    if index >= cut.first:
                        buffer.append(packet)
                    index += 1
                    if index == cut.end:
                        yield cut, _mux(buffer, stream, cut.start_pts, plan.muxer)
                        buffer = []
                        nxt = next(cut_iter, None)
                        if nxt is None:
                            return
                        cut = nxt
            except av.error.FFmpegError as exc:
                raise ReplayError("corrupt_media", f"{self.path}: {exc}") from None
        raise ReplayError("truncated_media", f"{self.path}: file changed while it was read")


def _declared_seconds(
    container: av.container.InputContainer, stream: av.VideoStream, tb: Fraction
) -> float | None:
    """The video's declared length: the stream's own, else the container's if video is all it holds."""
    rate = stream.average_rate
    if container.format.name == "avi" and stream.frames and rate:
        # An AVI header declares its length as frame slots (dwLength at dwRate), empty slots included;
        # FFmpeg's duration of an AVI that lost its index (cut short) is only a guess from the file size.
        return float(stream.frames / rate)
    if stream.duration:
        return float(stream.duration * tb)
    if container.duration and len(container.streams) == 1:
        return float(container.duration / av.time_base)
    return None


def _packet_times(
    container: av.container.InputContainer, stream: av.VideoStream, deadline: Deadline, path: Path
) -> list[tuple[int, int, bool]]:
    """(pts, duration, is_keyframe) of every video packet with data, in demux order."""
    out: list[tuple[int, int, bool]] = []
    default_dur = 0
    if stream.average_rate and stream.time_base:
        default_dur = max(1, round(1 / (stream.average_rate * stream.time_base)))
    try:
        for packet in container.demux(stream):
            deadline.tick()
            if packet.size == 0 or (packet.pts is None and packet.dts is None):
                continue
            pts = packet.pts if packet.pts is not None else packet.dts
            assert pts is not None
            out.append((int(pts), int(packet.duration or default_dur), bool(packet.is_keyframe)))
    except av.error.FFmpegError as exc:
        raise ReplayError("corrupt_media", f"{path}: {exc}") from None
    return out


def _mux(packets: list[av.Packet], template: av.VideoStream, offset: int, muxer: str) -> bytes:
    buf = io.BytesIO()
    try:
        with av.open(buf, mode="w", format=muxer) as out:
            # opaque=True builds the stream on the template's codec as is; the default looks up an
            # *encoder* by the decoder's name, which does not exist for decoder-only names such as
            # libdav1d (AV1) and is not needed to copy packets.
            ostream = out.add_stream_from_template(template, opaque=True)
            for packet in packets:
                if packet.pts is not None:
                    packet.pts -= offset
                if packet.dts is not None:
                    packet.dts -= offset
                packet.stream = ostream
                out.mux(packet)
    except (av.error.FFmpegError, ValueError) as exc:
        raise ReplayError("remux_failed", f"{muxer}: {exc}") from None
    return buf.getvalue()


def _output_family(path: Path, codec: str) -> tuple[str, str]:
    """(muxer, media type) of the segments: the input's container family where the codec allows."""
    suffix = path.suffix.lower()
    if suffix in _MP4_SUFFIXES and codec in _MP4_CODECS:
        return "mp4", "video/mp4"
    if suffix == ".webm" and codec in _WEBM_CODECS:
        return "webm", "video/webm"
    return "matroska", "video/x-matroska"
