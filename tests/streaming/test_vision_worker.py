"""A live worker whose model takes images (the tiny VLM through the transformers backend): the anchors topic
brings two robot windows; the one whose key frame is gone from the frame store is dead-lettered with the
store's reason, the other's candidate is made with its key frames (provenance and metric say which), and
the worker goes on."""

from __future__ import annotations

import time
from pathlib import Path

from kafka import KafkaProducer

from core.blobstore import BlobStore
from core.records import DeadLetter, RejectedExample
from streaming.intent_publish import IntentRequest, publish_intent
from streaming.kafka_clients import kafka_python_kwargs
from streaming.settings import TailorSettings
from streaming.topics import ensure_topics
from tests.agents.synthesis.test_frames import with_frames
from tests.agents.test_tiny_vlm import frames, smol_dir, tiny_vlm_dir  # noqa: F401 - fixtures
from tests.conftest import start_worker_process, stop_worker_process
from tests.kafka_helpers import consume
from tests.streaming.test_stage_failures import INTENT, anchor_set


def test_a_vlm_worker_sees_key_frames_and_dead_letters_a_missing_one(
    settings: TailorSettings,
    tiny_vlm_dir: Path,  # noqa: F811
    frames: list[bytes],  # noqa: F811
    tmp_path: Path,
) -> None:
    live = settings.model_copy(
        update={
            "synth_backend": "hf",
            "model_dir": tiny_vlm_dir,
            "synth_candidates": 1,
            "synth_max_tokens": 16,
            "synth_max_images": 2,
        }
    )
    assert live.kafka_bootstrap
    ensure_topics(live, live, live.kafka_bootstrap)
    store = BlobStore.for_dir(live.data_dir / "frames")  # the worker's frame store
    # (the store is content-addressed: the whole window's frames must not be the deleted one's bytes)
    broken = with_frames(anchor_set("ep-gone"), store, [frames[1]], [3])
    Path(broken.key_frames[0].uri.removeprefix("file://")).unlink()
    whole = with_frames(anchor_set("ep-whole"), store, [frames[0]] * 3, [0, 3, 9])
    publish_intent(live, IntentRequest(text=INTENT, domain="robot"))
    worker = start_worker_process(live, tmp_path / "worker.log")
    producer = KafkaProducer(**kafka_python_kwargs(live, live.kafka_bootstrap))
    try:
        for anchors in (broken, whole):
            producer.send(live.topic_anchors, key=anchors.window_id.encode(), value=anchors.to_bytes())
        producer.flush()
        letters = consume(live, live.topic_dlq, count=1, timeout_s=90)
        assert len(letters) == 1, worker.log()[-3000:]
        letter = DeadLetter.from_bytes(letters[0].value)
        assert (letter.stage, letter.reason) == ("synthesis", "blob_missing"), worker.log()[-3000:]
        assert letter.key == broken.window_id.encode() and "key frame 3" in letter.detail

        # the tiny model's random text is rejected, but it was written with the two most salient frames
        seen: list[RejectedExample] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not seen:
            seen = [
                r
                for m in consume(live, live.topic_rejected, timeout_s=5, idle_s=1)
                if (r := RejectedExample.from_bytes(m.value)).window_id == whole.window_id
            ]
        assert seen, worker.log()[-3000:]
        assert {tuple(r.image_frames) for r in seen} == {(0, 3)}
        assert {r.model for r in seen} == {f"hf:{tiny_vlm_dir.name}"}
        assert worker.metric("tailor_synthesis_images_total", backend="hf") == 2 * len(seen)
        assert worker.metric("tailor_dead_lettered_total", reason="blob_missing") == 1
        assert worker.proc.poll() is None
    finally:
        producer.close()
        stop_worker_process(worker)
