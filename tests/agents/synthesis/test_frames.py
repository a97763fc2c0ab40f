"""Key frames into prompts: which frames (salience, cap), how big (max side), and what a missing one costs (its
job, as a dead letter with the store's reason; the batch's other windows still go to the model). A backend
whose model is text-only is never given an image. Real screenshots from ../shared, a real frame store."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from prometheus_client import CollectorRegistry

from agents.intents import IntentParser
from agents.synthesis.base import Generation, SynthesisBackend, SynthesisJob
from agents.synthesis.frames import FrameUnavailable, load_images, pick_frames
from agents.synthesis.rules_backend import RulesBackend
from agents.synthesis.vllm_vision import with_images
from agents.tasks.catalog import families
from core.blobstore import BlobStore
from core.metrics import TailorMetrics
from core.records import AnchorSet, Example, FrameRef, Intent
from streaming.intent_book import IntentBook
from streaming.settings import TailorSettings
from streaming.synthesis_stage import SynthesisStage
from tests.streaming.test_stage_failures import INTENT, Event, Letters, anchor_set


def screenshots(shared_dir: Path) -> list[bytes]:
    """Four real screenshots: three AITW phone screens (270x600) and a Mind2Web page (1280x2529)."""
    aitw = sorted((shared_dir / "data/gui/aitw/GOOGLE_APPS-523638528775825151").glob("*.png"))[:3]
    page = shared_dir / "data/gui/mind2web/thumbtack-wedding-photographer/images/0.jpg"
    return [p.read_bytes() for p in [*aitw, page]]


def with_frames(anchors: AnchorSet, store: BlobStore, images: list[bytes], at: list[int]) -> AnchorSet:
    refs = []
    for data, index in zip(images, at, strict=True):
        ref = store.put(data, "image/png")
        assert ref.uri and ref.sha256
        refs.append(FrameRef(frame_index=index, timestamp=index / 10, uri=ref.uri, sha256=ref.sha256))
    return anchors.model_copy(update={"key_frames": refs})


def test_the_most_salient_frames_are_chosen_and_shrunk(shared_dir: Path, tmp_path: Path) -> None:
    store = BlobStore.for_dir(tmp_path / "frames")
    # the robot window: a gripper_close at frame 3, subtasks starting at 0 and 4, nothing at 9
    anchors = with_frames(anchor_set("ep-1"), store, screenshots(shared_dir), [9, 4, 3, 0])
    assert [kf.frame_index for kf in pick_frames(anchors, 3)] == [3, 0, 4]  # gripper event, then by time
    assert pick_frames(anchors, 0) == []
    settings = TailorSettings(data_dir=tmp_path)
    images = load_images(anchors, store, 4, 200, settings)
    assert [i.frame_index for i in images] == [3, 0, 4, 9]
    sizes = {i.frame_index: Image.open(io.BytesIO(i.data)).size for i in images}
    assert sizes[3] == (90, 200)  # the Mind2Web page, 1280x2529, fit into 200 px with its aspect
    assert sizes[9] == (90, 200)  # an AITW screen, 270x600
    assert all(Image.open(io.BytesIO(i.data)).format == "PNG" for i in images)

    # the prompt names each image by its frame and shows them in time order
    parts = with_images([{"role": "user", "content": "the window"}], images)[-1]["content"]
    named = [p["text"].strip() for p in parts if p["type"] == "text"][2:]
    assert named == ["Frame 0:", "Frame 3:", "Frame 4:", "Frame 9:"]
    assert [p["type"] for p in parts].count("image_url") == 4


def test_a_missing_key_frame_is_refused_with_the_stores_reason(shared_dir: Path, tmp_path: Path) -> None:
    store = BlobStore.for_dir(tmp_path / "frames")
    anchors = with_frames(anchor_set("ep-1"), store, screenshots(shared_dir)[:2], [3, 0])
    Path(anchors.key_frames[0].uri.removeprefix("file://")).unlink()
    with pytest.raises(FrameUnavailable) as err:
        load_images(anchors, store, 4, 200, TailorSettings(data_dir=tmp_path))
    assert err.value.reason == "blob_missing"
    assert "key frame 3 of robot:ep-1:0" in err.value.detail


class Seeing(SynthesisBackend):
    """The rules' answer, from a backend that says its model takes images (or not) and keeps what it got."""

    name = "seeing"

    def __init__(self, vision: bool) -> None:
        super().__init__(4)
        self.vision = vision
        self.jobs: list[SynthesisJob] = []
        self.rules = RulesBackend()

    async def takes_images(self) -> bool:
        return self.vision

    async def generate(self, job: SynthesisJob) -> Generation:
        self.jobs.append(job)
        gen = await self.rules.generate(job)
        return dataclasses.replace(gen, image_frames=tuple(sorted(i.frame_index for i in job.images)))


@pytest.mark.parametrize("vision", [True, False])
def test_the_stage_sends_frames_only_to_a_model_that_takes_them(
    shared_dir: Path, tmp_path: Path, vision: bool
) -> None:
    settings = TailorSettings(data_dir=tmp_path, synth_candidates=1, synth_max_images=2)
    store = BlobStore.for_dir(tmp_path / "frames")
    shots = screenshots(shared_dir)
    whole = with_frames(anchor_set("ep-1"), store, shots[:3], [0, 3, 9])
    broken = with_frames(anchor_set("ep-2"), store, [shots[3]], [3])
    Path(broken.key_frames[0].uri.removeprefix("file://")).unlink()

    by_name = {f.name: f for f in families()}
    book = IntentBook(IntentParser(by_name, None, settings.default_budget))
    asyncio.run(book.apply(Intent(intent_id="i-1", text=INTENT, domain="robot", created_at=time.time())))
    published: list[tuple[str, str, bytes]] = []

    async def publish(topic: str, key: str, value: bytes) -> None:
        published.append((topic, key, value))

    backend, letters = Seeing(vision), Letters()
    metrics = TailorMetrics(CollectorRegistry())
    stage = SynthesisStage(settings, backend, by_name, book, metrics, letters, publish, frames=store)
    events = [
        Event(a.window_id.encode(), a.to_bytes(), SimpleNamespace(topic="anchors", partition=0, offset=n))
        for n, a in enumerate((broken, whole))
    ]
    asyncio.run(stage.handle_batch(events))

    examples = [Example.from_bytes(v) for t, _k, v in published if t == settings.topic_examples]
    if vision:
        # the window whose only key frame is gone: one dead letter per job, with the store's reason
        assert {(d.reason, d.stage, d.source_offset) for d in letters.sent} == {
            ("blob_missing", "synthesis", 0)
        }
        assert {e.window_id for e in examples} == {whole.window_id}
        # at most 2 images: the gripper frame 3, then frame 0 (a subtask starts there); never frame 9
        assert {tuple(i.frame_index for i in j.images) for j in backend.jobs} == {(3, 0)}
        assert {tuple(e.image_frames) for e in examples} == {(0, 3)}
        images = metrics.registry.get_sample_value("tailor_synthesis_images_total", {"backend": "seeing"})
        assert images == 2 * len(backend.jobs)
    else:  # a text-only model: no frame is read (the missing one costs nothing), no image is sent
        assert letters.sent == []
        assert {e.window_id for e in examples} == {whole.window_id, broken.window_id}
        assert all(j.images == () for j in backend.jobs)
        assert all(e.image_frames == [] for e in examples)
