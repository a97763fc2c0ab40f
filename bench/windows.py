"""Real recordings → selected windows → AnchorSets, the way the anchor stage makes them, without a broker.

Records come from the project's replay readers (`open_sources`); a window is a slice of one key's items
(robot steps, GUI steps or video segments) closed into a `ClosedWindow` and run through the domain's
`WindowAnchoring`. Everything is deterministic: replay starts at stream time 0, `created_at` is 0 and
key frames are stored content-addressed.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TypeVar

from agents.anchoring import WindowAnchoring, store_key_frames
from agents.anchoring_steps import GuiAnchoring, RobotAnchoring
from agents.anchoring_video import VideoAnchoring
from agents.extractors.gui.pipeline import GuiExpertPipeline
from agents.extractors.gui.pipeline_config import GuiPipelineConfig
from agents.extractors.robot.pipeline import RobotExpertPipeline
from bench.build_config import BuildConfig
from bench.case import WindowSelection
from bench.sources import SourceRef, resolve
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import AnchorSet, MediaRef, SourceSpan, TailorRecord
from core.window import ClosedWindow
from streaming.replay.detect import open_sources
from streaming.replay.source_config import ReplaySourceConfig

log = logging.getLogger(__name__)

R = TypeVar("R", bound=TailorRecord)


def inline_media(data: bytes, media_type: str, width: int | None, height: int | None) -> MediaRef:
    return MediaRef.inline(data, media_type, width, height)


class RecordCache:
    """Records per key of each recording, read once by the replay readers."""

    def __init__(self, config: BuildConfig, limits: LimitsConfig) -> None:
        self.config = config
        self.limits = limits
        self._read: dict[SourceRef, dict[str, list[TailorRecord]]] = {}

    def records(self, source: SourceRef) -> dict[str, list[TailorRecord]]:
        if source not in self._read:
            replay = ReplaySourceConfig(segment_s=self.config.segment_s)
            out: dict[str, list[TailorRecord]] = {}
            for src in open_sources([resolve(source)], source.kind, inline_media, self.limits, config=replay):
                for event in src.events(0.0, 1.0):
                    out.setdefault(event.key, []).append(event.record)
            self._read[source] = out
            log.info("read %s: %s", source.path, {k: len(v) for k, v in out.items()})
        return self._read[source]

    def items(self, source: SourceRef, key: str) -> list[TailorRecord]:
        found = self.records(source)
        if key not in found:
            raise KeyError(f"{source.path} has no key {key!r} (keys: {sorted(found)[:5]} ...)")
        return found[key]

    def typed(self, source: SourceRef, key: str, record_type: type[R]) -> list[R]:
        """The key's records, checked to be of `record_type`."""
        out = []
        for record in self.items(source, key):
            if not isinstance(record, record_type):
                raise TypeError(f"{source.path}:{key}: {type(record).__name__}, not {record_type.__name__}")
            out.append(record)
        return out


def window_id(domain: str, key: str, first: int, count: int) -> str:
    return f"{domain}:{key}:{first}-{first + count - 1}"


class WindowAnchorer:
    """AnchorSets of selected windows, by the domain's anchoring step."""

    def __init__(self, config: BuildConfig, records: RecordCache) -> None:
        self.config = config
        self.records = records
        self._steps: dict[str, WindowAnchoring] | None = None

    @cached_property
    def frames(self) -> BlobStore:
        return BlobStore(self.config.frame_store_uri)

    def steps(self) -> dict[str, WindowAnchoring]:
        if self._steps is None:
            limits = self.records.limits
            gui = GuiExpertPipeline.default(GuiPipelineConfig(ocr=self.config.gui_ocr))
            self._steps = {
                "robot": RobotAnchoring(self.frames, limits, RobotExpertPipeline.default()),
                "gui": GuiAnchoring(self.frames, limits, gui),
                "video": VideoAnchoring(self.frames, limits, ocr=self.config.video_ocr),
            }
        return self._steps

    def select(
        self, source: SourceRef, key: str, first: int, count: int
    ) -> tuple[WindowSelection, AnchorSet]:
        """The window of `count` items of `key` from item `first`, and its AnchorSet."""
        items = self.records.items(source, key)
        if first < 0 or count <= 0 or first + count > len(items):
            raise ValueError(
                f"{source.path}:{key}: items {first}..{first + count - 1} not in 0..{len(items) - 1}"
            )
        anchors = self.anchor_set(source.kind, key, first, items[first : first + count])
        selection = WindowSelection(
            source=source,
            key=key,
            first=first,
            count=count,
            segment_s=self.config.segment_s if source.kind == "video" else None,
            start_s=anchors.span.start_time,
            end_s=anchors.span.end_time,
        )
        return selection, anchors

    def anchor_set(self, domain: str, key: str, first: int, recs: list[TailorRecord]) -> AnchorSet:
        window = ClosedWindow(
            domain=domain,
            key=key,
            seq=first,
            topic=f"tailor.raw.{domain}",
            partition=0,
            first_offset=first,
            last_offset=first + len(recs) - 1,
            records=recs,
        )
        facts = self.steps()[domain].facts(window)
        refs = store_key_frames(facts, self.frames, self.config.max_key_frames)
        return AnchorSet(
            window_id=window_id(domain, key, first, len(recs)),
            domain=domain,  # type: ignore[arg-type]
            key=key,
            span=SourceSpan(
                topic=window.topic,
                partition=0,
                first_offset=window.first_offset,
                last_offset=window.last_offset,
                start_time=facts.start_time,
                end_time=facts.end_time,
            ),
            num_frames=facts.num_frames,
            key_frames=refs,
            anchors=facts.anchors,
            instruction=facts.instruction,
            created_at=0.0,
        )
