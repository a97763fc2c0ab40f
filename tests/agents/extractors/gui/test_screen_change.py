"""Screen-change expert and bounded screenshot decoding, on the real AITW screenshots."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageDraw

from agents.extractors.base import ExtractorError
from agents.extractors.gui.expert_pipeline import ExpertPipeline
from agents.extractors.gui.images import crop_box, decode_image
from agents.extractors.gui.screen_change import ScreenChangeExtractor
from agents.extractors.gui.screen_change_config import ScreenChangeConfig
from agents.extractors.gui.window import GuiWindow
from core.limits_config import LimitsConfig
from core.records import GuiAction
from core.records.base import RecordError
from tests.agents.extractors.gui.helpers import png_ref, step, window

HOME = GuiAction(type="home")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` but carries almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )


def test_change_is_zero_for_the_same_screen_and_large_for_a_new_one(aitw_pngs: list[bytes]) -> None:
    shots = [aitw_pngs[0], aitw_pngs[0], aitw_pngs[1], aitw_pngs[2], aitw_pngs[3]]
    w = window([step(i, HOME, screenshot=png_ref(b)) for i, b in enumerate(shots)])
    anchors = ScreenChangeExtractor()(w)
    assert [(a.frame_index, a.end_frame_index) for a in anchors] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    values = [a.value for a in anchors]
    assert all(v is not None and 0.0 <= v <= 1.0 for v in values)
    assert values[0] == 0.0 and anchors[0].content == "none"
    # email setup -> home screen -> app drawer -> clock: every step is a different screen
    assert all(v is not None and v > 0.05 for v in values[1:])
    assert anchors[0].evidence_frames == [0, 1]


def test_min_change_filters_and_missing_screenshots_are_skipped(aitw_pngs: list[bytes]) -> None:
    w = window(
        [
            step(0, HOME, screenshot=png_ref(aitw_pngs[0])),
            step(1, HOME, screenshot=png_ref(aitw_pngs[0])),
            step(2, HOME),
            step(3, HOME, screenshot=png_ref(aitw_pngs[3])),
        ]
    )
    assert ScreenChangeExtractor()(w)[0].frame_index == 0
    assert ScreenChangeExtractor(ScreenChangeConfig(min_change=0.01))(w) == []


def test_corrupt_screenshot_fails_with_a_reason_label(aitw_pngs: list[bytes]) -> None:
    bad = aitw_pngs[1][: len(aitw_pngs[1]) // 3]
    w = window([step(0, HOME, screenshot=png_ref(aitw_pngs[0])), step(1, HOME, screenshot=png_ref(bad))])
    with pytest.raises(ExtractorError) as info:
        ExpertPipeline([ScreenChangeExtractor()]).run(w)
    assert info.value.reason == "corrupt_media"
    assert ExpertPipeline([ScreenChangeExtractor()], on_error="skip").run(w) == []


def test_absurd_declared_size_is_refused_before_decoding() -> None:
    with pytest.raises(RecordError) as info:
        decode_image(png_header(100_000, 100_000), LimitsConfig())
    assert info.value.reason == "resolution_too_large"
    w = GuiWindow.of([step(0, HOME, screenshot=png_ref(png_header(50_000, 50_000)))])
    with pytest.raises(ExtractorError) as err:
        ExpertPipeline([ScreenChangeExtractor()]).run(
            GuiWindow.of([*w.steps, step(1, HOME, screenshot=w.steps[0].screenshot)])
        )
    assert err.value.reason == "resolution_too_large"
    with pytest.raises(RecordError) as empty:
        decode_image(b"", LimitsConfig())
    assert empty.value.reason == "empty_media"


def test_decode_real_png_and_crop_box(aitw_pngs: list[bytes]) -> None:
    image = decode_image(aitw_pngs[2], LimitsConfig(), "image/png")
    assert image.size == (270, 600) and image.mode == "RGB"
    assert crop_box(image.size, (156, 321, 18, 5), 8, 0.0) == (148, 313, 182, 334)
    assert crop_box(image.size, (-50, -50, 10, 10), 2, 0.0) is None
    assert crop_box(image.size, (260, 590, 40, 40), 0, 0.0) == (260, 590, 270, 600)


def test_window_checks_its_steps(aitw_pngs: list[bytes]) -> None:
    with pytest.raises(RecordError) as mixed:
        GuiWindow.of([step(0, HOME), step(1, HOME, session="other")])
    assert mixed.value.reason == "mixed_keys"
    with pytest.raises(RecordError) as dup:
        GuiWindow.of([step(0, HOME), step(0, HOME)])
    assert dup.value.reason == "duplicate_step"
    w = GuiWindow.of([step(2, HOME), step(0, HOME)])
    assert [s.step_index for s in w.steps] == [0, 2]


def flat_png(width: int, height: int, shade: int) -> bytes:
    """A one-colour PNG: a few KiB on the wire, width x height x 3 bytes decoded (the issue-20 probe)."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (shade, shade, shade)).save(buf, "PNG")
    return buf.getvalue()


def test_a_window_keeps_at_most_its_decoded_bytes_budget_and_loses_no_anchor() -> None:
    """Issue 20 item 3: every decoded screenshot used to stay cached for the window's life (a flat
    4096x8192 PNG costs 96 MiB decoded), so memory grew with the step count; now the cache holds at most
    `max_window_decoded_bytes` and re-decodes what it dropped, with the same anchors."""
    shots = [flat_png(1024, 2048, 40 * (i % 5)) for i in range(8)]  # 6 MiB decoded each
    steps = [step(i, HOME, screenshot=png_ref(b)) for i, b in enumerate(shots)]
    budget = 13 * 1024 * 1024  # two decoded screenshots
    bounded = GuiWindow.of(steps, limits=LimitsConfig(max_window_decoded_bytes=budget))
    anchors = ScreenChangeExtractor()(bounded)
    held = sum(img.width * img.height * 3 for img in bounded._images.values() if img is not None)
    assert 0 < held <= budget
    assert [a.model_dump() for a in anchors] == [
        a.model_dump() for a in ScreenChangeExtractor()(window(steps))
    ]
    assert len(anchors) == 7 and bounded.screenshot(7) is not None


def test_typing_over_a_selected_line_registers_as_an_edit_with_its_box(mind2web_jpg: bytes) -> None:
    """Issue 19.7: on a real screenshot (Mind2Web, 1280 px wide), a line selected and then typed over changes
    a field of ~200x20 px. The 32 px thumbnail moved by well under 0.01 ("none"); the tile comparison
    calls it a minor change and bounds it."""
    base = Image.open(io.BytesIO(mind2web_jpg)).convert("RGB")
    field = (160, 300, 380, 322)  # a strip of the page's own pixels
    selected = base.copy()
    selected.paste((51, 144, 255), field)  # the selection highlight over the line
    typed = base.copy()
    ImageDraw.Draw(typed).rectangle(field, fill=(255, 255, 255))
    ImageDraw.Draw(typed).text((field[0] + 4, field[1] + 4), "wedding photographers near me", fill=(0, 0, 0))

    def jpeg(image: Image.Image) -> bytes:
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()

    shots = [jpeg(base), jpeg(base), jpeg(selected), jpeg(typed)]
    w = window([step(i, HOME, screenshot=png_ref(b)) for i, b in enumerate(shots)])
    anchors = ScreenChangeExtractor()(w)
    same, select, type_over = anchors
    assert same.content == "none" and same.bbox is None
    for edit in (select, type_over):
        assert edit.value is not None and edit.value < 0.01  # what the whole-screen measure sees
        assert edit.content == "minor", edit
        assert edit.bbox is not None
        box = edit.bbox
        # the box covers the edited strip to within one tile (8 px of a 256 px wide image: 40 px here)
        slack = 8 * base.width / 256
        assert box.x <= field[0] and box.x + box.w >= field[2] - slack
        assert box.y <= field[1] and box.y + box.h >= field[3] - slack
        assert box.w * box.h < 0.05 * base.width * base.height
