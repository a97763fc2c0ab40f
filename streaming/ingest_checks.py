"""Checks applied to every raw record after parsing; each raises RecordError(reason, detail)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from core.blobstore import BlobStore, UriPolicyError
from core.limits_config import LimitsConfig
from core.media_probe import probe_image, probe_video
from core.records import GuiStep, MediaRef, RecordError, RobotStep, TailorRecord, VideoSegment

R = TypeVar("R", bound=TailorRecord)


class RecordCheck(ABC, Generic[R]):
    """One check with one job. `__init__` only stores its arguments."""

    def __init__(self, limits: LimitsConfig, blobs: BlobStore) -> None:
        self.limits = limits
        self.blobs = blobs

    @abstractmethod
    def check(self, record: R) -> None:
        """Raise RecordError when the record must not go further."""

    def media_bytes(self, ref: MediaRef) -> bytes:
        """The item's bytes under `max_media_bytes`, the cap anchoring reads them by again: a larger claim
        check dead-letters here, not its whole window later."""
        cap = self.limits.max_media_bytes
        if ref.size_bytes > cap:  # inline data too: blobs.get returns it without a look at its size
            raise RecordError("blob_too_large", f"{ref.size_bytes} bytes > cap {cap}")
        try:
            return self.blobs.get(ref, max_bytes=cap)
        except UriPolicyError as exc:
            raise RecordError(exc.reason, exc.detail) from None


class VectorCheck(RecordCheck[RobotStep]):
    def check(self, record: RobotStep) -> None:
        cap = self.limits.max_vector_len
        for name, vec in (("state", record.state), ("action", record.action)):
            if len(vec) > cap:
                raise RecordError("vector_too_long", f"{name} has {len(vec)} values > cap {cap}")
        if not record.state:
            raise RecordError("empty_state", "state vector is empty")


class CameraCheck(RecordCheck[RobotStep]):
    def check(self, record: RobotStep) -> None:
        if len(record.cameras) > 16:
            raise RecordError("too_many_cameras", f"{len(record.cameras)} cameras > 16")
        for name, ref in record.cameras.items():
            data = self.media_bytes(ref)
            try:
                probe_image(data, max_pixels=self.limits.max_image_pixels, media_type=ref.media_type)
            except RecordError as exc:
                raise RecordError(exc.reason, f"camera {name}: {exc.detail}") from None


class GuiTextCheck(RecordCheck[GuiStep]):
    def check(self, record: GuiStep) -> None:
        cap = self.limits.max_text_chars
        for name in ("html", "accessibility"):
            text = getattr(record, name)
            if text is not None and len(text) > cap:
                raise RecordError("text_too_long", f"{name} has {len(text)} chars > cap {cap}")


class ScreenshotCheck(RecordCheck[GuiStep]):
    def check(self, record: GuiStep) -> None:
        if record.screenshot is None:
            return
        data = self.media_bytes(record.screenshot)
        width, height = probe_image(
            data, max_pixels=self.limits.max_image_pixels, media_type=record.screenshot.media_type
        )
        act = record.action
        for label, val, bound in (("x", act.x, width), ("y", act.y, height)):
            if val is not None and not (-1 <= val <= bound + 1):
                raise RecordError("action_outside_screen", f"action {label}={val} outside 0..{bound}")


class VideoCheck(RecordCheck[VideoSegment]):
    def check(self, record: VideoSegment) -> None:
        ref = record.media
        for dim in (ref.width, ref.height):
            if dim is not None and dim > 65535:
                raise RecordError("resolution_too_large", f"declared dimension {dim}")
        if ref.width and ref.height and ref.width * ref.height > self.limits.max_video_pixels:
            raise RecordError("resolution_too_large", f"declared {ref.width}x{ref.height}")
        if record.duration_s > self.limits.max_video_seconds:
            raise RecordError("duration_too_long", f"segment of {record.duration_s}s")
        data = self.media_bytes(ref)
        probe_video(
            data,
            max_pixels=self.limits.max_video_pixels,
            max_seconds=self.limits.max_video_seconds,
            media_type=ref.media_type,
        )


def checks_for(record: type[TailorRecord], limits: LimitsConfig, blobs: BlobStore) -> list[RecordCheck]:  # type: ignore[type-arg]
    """The checks each raw record type goes through, in order."""
    table: dict[type[TailorRecord], list[type[RecordCheck]]] = {  # type: ignore[type-arg]
        RobotStep: [VectorCheck, CameraCheck],
        GuiStep: [GuiTextCheck, ScreenshotCheck],
        VideoSegment: [VideoCheck],
    }
    return [cls(limits, blobs) for cls in table.get(record, [])]
