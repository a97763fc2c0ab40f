"""Shared input checks of the replay readers: ids, vectors, images, order, decode deadline."""

from __future__ import annotations

import io
import re
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from core.limits_config import LimitsConfig
from core.records.raw import ID_PATTERN
from streaming.replay.base import ReplayError
from streaming.replay.checks import Deadline, check_increasing, finite_vector, image_size, sanitize_id

AITW_PNG = Path("gui/aitw/GOOGLE_APPS-523638528775825151/GOOGLE_APPS-523638528775825151_0.png")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("bikes", "bikes"),
        ("a/b c", "a_b_c"),
        (".hidden", "_.hidden"),
        (
            "bridge_dataset-train.tfrecord-00000-of-00001:00003",
            "bridge_dataset-train.tfrecord-00000-of-00001:00003",
        ),
        ("", "stream"),
        ("x" * 300, "x" * 200),
    ],
)
def test_sanitize_id_always_gives_a_valid_key(raw: str, expected: str) -> None:
    out = sanitize_id(raw)
    assert out == expected and re.fullmatch(ID_PATTERN, out)


def test_vectors_refuse_nan_inf_and_overlong() -> None:
    limits = LimitsConfig(max_vector_len=4)
    assert finite_vector([1, 2.5], "v", limits) == [1.0, 2.5]
    for bad in ([0.0, float("nan")], [float("-inf")]):
        with pytest.raises(ReplayError) as err:
            finite_vector(bad, "v", limits)
        assert err.value.reason == "nonfinite_vector"
    with pytest.raises(ReplayError) as err:
        finite_vector([0.0] * 5, "v", limits)
    assert err.value.reason == "vector_too_long"


def test_image_size_from_header_with_caps(data_dir: Path) -> None:
    png = (data_dir / AITW_PNG).read_bytes()
    assert image_size(png, "shot", LimitsConfig()) == (270, 600)
    with pytest.raises(ReplayError) as err:
        image_size(png, "shot", LimitsConfig(max_image_pixels=270 * 599))
    assert err.value.reason == "image_too_large"
    with pytest.raises(ReplayError) as err:
        image_size(png[:40] + b"\x00" * 10, "shot", LimitsConfig())
    assert err.value.reason == "corrupt_image"
    with pytest.raises(ReplayError) as err:
        image_size(b"not an image", "shot", LimitsConfig())
    assert err.value.reason == "corrupt_image"


def test_decompression_bomb_header_is_refused_without_decoding() -> None:
    buf = io.BytesIO()
    Image.new("1", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = (100_000).to_bytes(4, "big") + (100_000).to_bytes(4, "big")  # IHDR width, height
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # a valid IHDR chunk CRC
    assert len(data) < 100
    with pytest.raises(ReplayError) as err:  # even with a lax cap, PIL's bomb guard stops it
        image_size(bytes(data), "bomb", LimitsConfig(max_image_pixels=1 << 40))
    assert err.value.reason == "image_too_large"
    with pytest.raises(ReplayError) as err:
        image_size(bytes(data), "bomb", LimitsConfig())
    assert err.value.reason == "image_too_large"


def test_check_increasing() -> None:
    check_increasing([0, 1, 5], "steps")
    for bad in ([0, 0], [1, 0], [0.0, float("nan")]):
        with pytest.raises(ReplayError) as err:
            check_increasing(bad, "steps")
        assert err.value.reason == "out_of_order_steps"


def test_deadline_trips_when_progress_stalls() -> None:
    deadline = Deadline(0.05, "decode x")
    deadline.tick()
    deadline.tick()
    time.sleep(0.1)
    with pytest.raises(ReplayError) as err:
        deadline.tick()
    assert err.value.reason == "decode_timeout"
