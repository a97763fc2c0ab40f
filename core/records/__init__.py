"""Typed, versioned records: one per topic, JSON on the wire."""

from core.records.base import RecordError, TailorRecord
from core.records.media import MediaRef
from core.records.pipeline import (
    Anchor,
    AnchorSet,
    DeadLetter,
    Example,
    FamilySkip,
    Feedback,
    FrameRef,
    Intent,
    ModelUpdate,
    RejectedExample,
    SourceSpan,
)
from core.records.raw import BBox, GuiAction, GuiStep, GuiTarget, RobotStep, VideoSegment

__all__ = [
    "Anchor",
    "AnchorSet",
    "BBox",
    "DeadLetter",
    "Example",
    "FamilySkip",
    "Feedback",
    "FrameRef",
    "GuiAction",
    "GuiStep",
    "GuiTarget",
    "Intent",
    "MediaRef",
    "ModelUpdate",
    "RecordError",
    "RejectedExample",
    "RobotStep",
    "SourceSpan",
    "TailorRecord",
    "VideoSegment",
]
