"""The hostile records of issue 20 for the soak (`tailor bench soak`), built from real encoders, no files.

Each is either refused with a known reason (the DLQ must hold it once, at its source offset) or is valid but
heavy (it must yield its anchors and examples like any step while the worker's RSS stays under its limit):
- an ffconcat script sent as a "video" that names a local file: refused at ingest, `unsupported_container`;
- a raw H.264 stream that opens as 64x48 and carries a later in-band SPS of 16000x16000: it passes the
  ingest probe (one frame), and the window decoder refuses it before allocating (`resolution_too_large`);
- GUI sessions of flat 4096x8192 PNG screenshots (about 100 MiB each decoded, 130 KB on the wire): the
  window's decoded-image cache is bounded by `max_window_decoded_bytes`;
- GUI sessions whose steps carry nearly 2 M chars of html plus 2 M of accessibility text: a window closes at
  `window_max_key_bytes` of state and the next step opens a new one, so nothing is lost;
- a forged model update (unknown version, a high sequence number, a created_at in the future): refused.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import time
import zlib
from dataclasses import dataclass

import av
import numpy as np

from core.records import GuiAction, GuiStep, MediaRef, ModelUpdate, VideoSegment
from streaming.settings import TailorSettings


@dataclass(frozen=True)
class MixRecord:
    kind: str
    topic: str
    key: bytes
    value: bytes
    reason: str | None  # the DLQ reason it must get; None for a valid (heavy) record


# ---- H.264: rewrite the sequence parameter set to declare another frame size ---------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.bits = "".join(f"{b:08b}" for b in data)
        self.pos = 0

    def u(self, n: int) -> int:
        v = int(self.bits[self.pos : self.pos + n], 2)
        self.pos += n
        return v

    def ue(self) -> int:
        zeros = 0
        while self.bits[self.pos] == "0":
            zeros += 1
            self.pos += 1
        return self.u(zeros + 1) - 1


def _ue(v: int) -> str:
    b = f"{v + 1:b}"
    return "0" * (len(b) - 1) + b


def _unescape(nal: bytes) -> bytes:
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def _escape(rbsp: bytes) -> bytes:
    return re.sub(rb"\x00\x00(?=[\x00-\x03])", b"\x00\x00\x03", rbsp)


_HIGH_PROFILES = (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135)


def sps_with_size(sps: bytes, mb_width: int, mb_height: int) -> bytes:
    """An SPS NAL (header byte included) with pic_width/height_in_mbs replaced; other fields kept bit for bit."""
    r = _Reader(_unescape(sps))
    r.u(8 + 8 + 8 + 8)  # NAL header, profile, constraint flags, level
    profile = int(r.bits[8:16], 2)
    r.ue()  # sps id
    if profile in _HIGH_PROFILES:
        if r.ue() == 3:  # chroma_format_idc
            r.u(1)
        r.ue(), r.ue(), r.u(1)
        assert r.u(1) == 0, "scaling matrices are not handled"
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    assert poc_type in (0, 2), "pic_order_cnt_type 1 is not handled"
    if poc_type == 0:
        r.ue()
    r.ue(), r.u(1)  # max_num_ref_frames, gaps allowed
    head = r.bits[: r.pos]
    r.ue(), r.ue()  # the old width and height in macroblocks
    tail = r.bits[r.pos :].rstrip("0")[:-1]  # drop the stop bit and the alignment
    bits = head + _ue(mb_width - 1) + _ue(mb_height - 1) + tail + "1"
    bits += "0" * (-len(bits) % 8)
    raw = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
    return raw[:1] + _escape(raw[1:])


def _nals(annexb: bytes) -> list[bytes]:
    """The NAL units of an Annex-B stream (start codes removed)."""
    return [n for n in re.split(rb"\x00\x00\x01", annexb.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01")) if n]


def h264_flat(width: int, height: int, frames: int) -> bytes:
    """Flat grey frames encoded by libx264 into a raw Annex-B stream (SPS and PPS in band)."""
    out = io.BytesIO()
    with av.open(out, "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        planes = np.full((height * 3 // 2, width), 128, np.uint8)  # grey chroma
        planes[:height] = 16  # black luma
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        for i in range(frames):
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


@functools.cache
def h264_growing(width: int = 16000, height: int = 16000) -> bytes:
    """A raw H.264 stream of 64x48 frames, then a second coded sequence whose in-band SPS declares
    width x height (the slices stay 64x48 ones): the opening probe sees only the small size."""
    tail = [
        n if n[0] & 0x1F != 7 else sps_with_size(n, -(-width // 16), -(-height // 16))
        for n in _nals(h264_flat(64, 48, 2))
    ]
    return h264_flat(64, 48, 10) + b"".join(b"\x00\x00\x00\x01" + n for n in tail)


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


@functools.cache
def flat_png(width: int = 4096, height: int = 8192) -> bytes:
    """A valid all-black RGB PNG: about 1000x smaller on the wire than decoded."""
    z = zlib.compressobj(9)
    row = b"\x00" * (3 * width + 1)  # filter byte + pixels
    body = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


FFCONCAT = b"ffconcat version 1.0\nfile shared/blobs/ab/0000000000000000000000000000000000000000.mp4\n"


def _gui_session(settings: TailorSettings, key: str, steps: int, **fields: object) -> list[MixRecord]:
    out = []
    for i in range(steps):
        step = GuiStep(
            session_id=key,
            step_index=i,
            timestamp=float(i),
            action=GuiAction(type="click", x=10, y=10),
            is_last=i == steps - 1,
            **fields,  # type: ignore[arg-type]
        )
        out.append(MixRecord(key.split("-")[1], settings.topic_raw_gui, key.encode(), step.to_bytes(), None))
    return out


def _video(settings: TailorSettings, key: str, data: bytes, media_type: str, reason: str) -> MixRecord:
    seg = VideoSegment(
        stream_id=key,
        seq=0,
        start_time=0.0,
        duration_s=2.0,
        event_time=time.time(),
        media=MediaRef.inline(data, media_type),
    )
    return MixRecord(key.split("-")[1], settings.topic_raw_video, key.encode(), seg.to_bytes(), reason)


def issue20_mix(
    settings: TailorSettings, n: int, *, text_chars: int, png_steps: int, text_steps: int
) -> list[MixRecord]:
    """The n-th round of issue 20's hostile records (raw topics only; see `forged_update`)."""
    shot = MediaRef.inline(flat_png(), "image/png")
    text = "x" * text_chars
    return [
        _video(settings, f"mix-ffconcat-{n}", FFCONCAT, "video/mp4", "unsupported_container"),
        _video(settings, f"mix-spsgrowth-{n}", h264_growing(), "video/h264", "resolution_too_large"),
        *_gui_session(settings, f"mix-flatpng-{n}", png_steps, screenshot=shot),
        *_gui_session(settings, f"mix-bigtext-{n}", text_steps, html=text, accessibility=text),
    ]


def forged_update(n: int) -> ModelUpdate:
    """An update nobody published: no such version in the store, a high sequence, a created_at in the future."""
    return ModelUpdate(
        version=f"forged-{n}",
        kind="lora",
        base_model="attacker/base",
        uri=f"models/forged-{n}/adapter.safetensors",
        sha256="0" * 64,
        created_at=time.time() + 10 * 365 * 86400,
        seq=10**9,
    )
