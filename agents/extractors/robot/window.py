"""A robot window: the ordered steps of one episode, with camera frames decoded on demand."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from agents.extractors.gui.images import DecodedImages, decode_image, media_bytes
from agents.extractors.step_order import ordered_steps
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import RobotStep
from core.records.base import RecordError

log = logging.getLogger(__name__)


@dataclass
class RobotWindow:
    """Steps of ONE episode in step order; `frame_index` in anchors is the position in `steps`."""

    key: str
    steps: list[RobotStep]
    blobs: BlobStore | None = None
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    _frames: DecodedImages = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._frames = DecodedImages(self.limits.max_window_decoded_bytes)

    @classmethod
    def of(
        cls, steps: Sequence[RobotStep], blobs: BlobStore | None = None, limits: LimitsConfig | None = None
    ) -> RobotWindow:
        """Build a checked window: one episode id, step indices strictly increasing, equal vector sizes."""
        key, ordered = ordered_steps(steps, lambda s: s.episode_id, "a robot window", "episode")
        if len({len(s.state) for s in ordered}) != 1:
            raise RecordError(
                "ragged_state", f"episode {ordered[0].episode_id}: state sizes differ between steps"
            )
        return cls(key=key, steps=ordered, blobs=blobs, limits=limits or LimitsConfig())

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def instruction(self) -> str | None:
        """The first language instruction any step carries."""
        return next((s.instruction for s in self.steps if s.instruction), None)

    def camera_names(self) -> list[str]:
        """Every camera name seen in the window, sorted."""
        return sorted({name for s in self.steps for name in s.cameras})

    def camera_frame(self, index: int, camera: str) -> Image.Image | None:
        """The decoded RGB frame of `camera` at step `index` (None when that step lacks it); cached within
        the window's decoded-bytes budget (`max_window_decoded_bytes`)."""
        ref = self.steps[index].cameras.get(camera)
        if ref is None:
            return None
        return self._frames.get(
            (index, camera),
            lambda: decode_image(media_bytes(ref, self.blobs, self.limits), self.limits, ref.media_type),
        )
