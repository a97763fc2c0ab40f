"""A GUI window: the ordered steps of one session, with screenshots decoded on demand."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from agents.extractors.gui.images import DecodedImages, decode_image, media_bytes
from agents.extractors.step_order import ordered_steps
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import GuiStep

log = logging.getLogger(__name__)


@dataclass
class GuiWindow:
    """Steps of ONE session in step order; `frame_index` in anchors is the position in `steps`."""

    key: str
    steps: list[GuiStep]
    blobs: BlobStore | None = None
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    _images: DecodedImages = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._images = DecodedImages(self.limits.max_window_decoded_bytes)

    @classmethod
    def of(
        cls, steps: Sequence[GuiStep], blobs: BlobStore | None = None, limits: LimitsConfig | None = None
    ) -> GuiWindow:
        """Build a checked window: one session id, step indices strictly increasing."""
        key, ordered = ordered_steps(steps, lambda s: s.session_id, "a GUI window", "session")
        return cls(key=key, steps=ordered, blobs=blobs, limits=limits or LimitsConfig())

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def instruction(self) -> str | None:
        """The first instruction any step carries."""
        return next((s.instruction for s in self.steps if s.instruction), None)

    def screenshot(self, index: int) -> Image.Image | None:
        """The decoded RGB screenshot of step `index` (None when the step has none); cached within the
        window's decoded-bytes budget (`max_window_decoded_bytes`)."""
        ref = self.steps[index].screenshot
        if ref is None:
            return None
        return self._images.get(
            index,
            lambda: decode_image(media_bytes(ref, self.blobs, self.limits), self.limits, ref.media_type),
        )
