"""The key frames a vision-language model sees with a window's prompt.

A window stores up to 16 key frames; a prompt carries at most `max_images` of them, chosen by what their
anchors say happened there: a scene cut, a gripper event or contact, a GUI action, an app or URL change
first (the frames the families ask the model to cite), then frames only a calmer anchor points at, then the
rest. Ties go to the earlier frame, and the chosen frames are shown in time order, each named by its frame
index so that the model can cite it. Every image is decoded within the configured pixel caps, shrunk to
`max_side` and re-encoded as PNG: the prompt's image cost is bounded by settings, not by the camera.

A key frame that the frame store no longer has (retention, a wrong root) refuses the job with the store's
reason (`blob_missing`, `blob_hash_mismatch`, ...): the stage dead-letters it, the worker goes on.
"""

from __future__ import annotations

import io

from PIL import Image

from agents.extractors.gui.images import decode_image
from agents.synthesis.base import WindowImage
from core.blobstore import BlobStore
from core.errors import TailorError
from core.limits_config import LimitsConfig
from core.records import AnchorSet, FrameRef, MediaRef

# anchor type -> salience (lower first); types not named rank after these, frames no anchor cites last
SALIENCE: dict[str, int] = {
    "scene_cut": 0,
    "gripper_close": 0,
    "gripper_open": 0,
    "contact": 0,
    "gui_action": 0,
    "app_transition": 1,
    "url_transition": 1,
    "screen_change": 1,
    "lift": 2,
    "stall": 2,
    "subtask": 3,
}
UNNAMED_TYPE = 4
UNCITED = 5


class FrameUnavailable(TailorError):
    """A key frame of the window could not be read from the frame store (reason from the store)."""


def frame_salience(anchors: AnchorSet) -> dict[int, int]:
    """Frame index -> the best (lowest) salience of the anchors that start at it or show it."""
    best: dict[int, int] = {}
    for a in anchors.anchors:
        rank = SALIENCE.get(a.type, UNNAMED_TYPE)
        for f in (a.frame_index, *a.evidence_frames):
            best[f] = min(best.get(f, UNCITED), rank)
    return best


def pick_frames(anchors: AnchorSet, max_images: int) -> list[FrameRef]:
    """At most `max_images` key frames of the window, the most salient first (a backend short of prompt
    tokens drops from the end; the prompt shows them in time order)."""
    if max_images <= 0:
        return []
    rank = frame_salience(anchors)
    refs = {kf.frame_index: kf for kf in anchors.key_frames}  # one per frame index
    chosen = sorted(refs.values(), key=lambda kf: (rank.get(kf.frame_index, UNCITED), kf.frame_index))
    return chosen[:max_images]


def shrink(data: bytes, max_side: int, limits: LimitsConfig) -> WindowImage:
    """Decode within the pixel caps, fit into max_side x max_side (aspect kept), PNG."""
    image = decode_image(data, limits)
    if max(image.size) > max_side:
        scale = max_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return WindowImage(0, out.getvalue(), image.width, image.height)


def load_images(
    anchors: AnchorSet, store: BlobStore, max_images: int, max_side: int, limits: LimitsConfig
) -> tuple[WindowImage, ...]:
    """The chosen key frames of the window as prompt images (blocking: file reads and decoding)."""
    out = []
    for kf in pick_frames(anchors, max_images):
        ref = MediaRef(
            uri=kf.uri, sha256=kf.sha256, size_bytes=limits.max_message_bytes, media_type="image/png"
        )
        try:
            data = store.get(ref, limits.max_message_bytes)
            image = shrink(data, max_side, limits)
        except TailorError as exc:
            raise FrameUnavailable(
                str(exc.reason), f"key frame {kf.frame_index} of {anchors.window_id}: {exc.detail}"
            ) from exc
        out.append(WindowImage(kf.frame_index, image.data, image.width, image.height))
    return tuple(out)
