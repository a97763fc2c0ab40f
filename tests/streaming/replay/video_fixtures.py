"""Videos made with PyAV from real frames for the replay tests, in shapes the shared data lacks."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av


def sparse_avi(source: Path, path: Path, frames: int = 68, slots: int = 444, fps: int = 15) -> Path:
    """MPEG-4 in AVI with `frames` real frames spread over `slots` frame periods: the AVI muxer fills the
    gaps with empty chunks and the header declares `slots` frames (a variable-rate capture)."""
    with av.open(str(source)) as src, av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        video = src.streams.video[0]
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.codec_context.gop_size = 10
        for i, frame in enumerate(src.decode(video=0)):
            if i == frames:
                break
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = round(i * (slots - 1) / (frames - 1)), Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
