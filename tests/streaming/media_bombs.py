"""Hostile media built from real files: headers that declare huge sizes or durations, and zlib bombs.

Every function takes real bytes (a JPEG, a video segment) or builds a tiny file whose header lies.
"""

from __future__ import annotations

import io
import re
import struct
import zlib

import av

from bench.soak_hostile import sps_with_size


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png(width: int, height: int, idat: bytes, *, color_type: int = 2, extra: bytes = b"") -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + extra
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def png_zlib_bomb(width: int, height: int) -> bytes:
    """A grayscale PNG whose pixels are all zero: about 1000x smaller than its decoded size."""
    z = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    body = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return png(width, height, body, color_type=0)


def png_text_bomb(decoded_bytes: int) -> bytes:
    """A 1x1 PNG with a zTXt chunk that inflates to `decoded_bytes` (Pillow caps text chunks)."""
    z = zlib.compressobj(9)
    block = b"\x00" * (1 << 20)
    body = b"".join(z.compress(block) for _ in range(decoded_bytes >> 20)) + z.flush()
    ztxt = _png_chunk(b"zTXt", b"Comment\x00\x00" + body)
    return png(1, 1, zlib.compress(b"\x00\x00\x00\x00"), extra=ztxt)


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The real JPEG with its start-of-frame marker rewritten to declare width x height (16-bit each)."""
    m = re.search(rb"\xff[\xc0-\xc2]", jpeg)
    assert m is not None, "no SOF marker"
    out = bytearray(jpeg)
    struct.pack_into(">HH", out, m.start() + 5, height, width)
    return bytes(out)


def ppm(width: int, height: int, payload: bytes = b"\x80" * 64) -> bytes:
    return b"P6\n%d %d\n255\n" % (width, height) + payload


def y4m(width: int, height: int, payload: bytes = b"\x80" * 64) -> bytes:
    """A raw YUV4MPEG2 stream whose header declares width x height; the one frame is cut short."""
    return b"YUV4MPEG2 W%d H%d F25:1 Ip A1:1 C420jpeg\nFRAME\n" % (width, height) + payload


def remux(data: bytes, fmt: str) -> bytes:
    """The first video stream of `data`, stream-copied into container `fmt` (matroska, h264, ...)."""
    out = io.BytesIO()
    with av.open(io.BytesIO(data), mode="r") as src, av.open(out, mode="w", format=fmt) as dst:
        stream = src.streams.video[0]
        target = dst.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = target
            dst.mux(packet)
    return out.getvalue()


def mkv_with_duration(mkv: bytes, millis: float) -> bytes:
    """A Matroska file with its Segment Info Duration (an 8-byte float, in ms at the default scale) replaced."""
    i = mkv.find(b"\x44\x89\x88")
    assert i >= 0, "no 8-byte Duration element"
    out = bytearray(mkv)
    struct.pack_into(">d", out, i + 3, millis)
    return bytes(out)


# ---- H.264: the SPS rewriter is the soak's (bench/soak_hostile.py) -----------------------------------


def h264_declaring(segment: bytes, fmt: str, width: int, height: int) -> bytes:
    """The real H.264 segment stream-copied into `fmt` (mp4, matroska, mpegts) with its SPS (in the avcC
    extradata) declaring width x height, rounded up to whole macroblocks. The slices are the real ones."""
    out = io.BytesIO()
    with av.open(io.BytesIO(segment), mode="r") as src, av.open(out, mode="w", format=fmt) as dst:
        stream = src.streams.video[0]
        avcc = stream.codec_context.extradata
        assert avcc is not None and avcc[0] == 1 and avcc[5] & 0x1F == 1, "expected an avcC with one SPS"
        (n,) = struct.unpack_from(">H", avcc, 6)
        sps = sps_with_size(avcc[8 : 8 + n], -(-width // 16), -(-height // 16))
        target = dst.add_stream_from_template(stream)
        target.codec_context.extradata = avcc[:6] + struct.pack(">H", len(sps)) + sps + avcc[8 + n :]
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = target
            dst.mux(packet)
    return out.getvalue()
