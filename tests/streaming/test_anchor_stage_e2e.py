"""From `tailor replay` to `tailor.anchors` through the real broker and a live worker, on real data."""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image

from core.records import AnchorSet, DeadLetter, RobotStep
from streaming.replay.runner import replay
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from tests.conftest import WorkerProcess
from tests.kafka_helpers import consume


def anchor_sets(settings: TailorSettings, count: int, timeout_s: float = 120) -> list[AnchorSet]:
    msgs = consume(settings, settings.topic_anchors, count=count, timeout_s=timeout_s)
    return [AnchorSet.from_bytes(m.value) for m in msgs]


def frame_bytes(uri: str) -> bytes:
    return Path(urlsplit(uri).path).read_bytes()


def test_robot_episodes_become_anchor_sets(
    settings: TailorSettings, worker: WorkerProcess, shared_dir: Path
) -> None:
    bridge = shared_dir / "data/robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001"
    umi = shared_dir / "data/robot/umi_cup_in_the_wild"
    replay(settings, ReplayConfig(paths=[bridge, umi], rate=0, progress=False))
    raw = {
        (s.episode_id, s.step_index): s
        for s in (
            RobotStep.from_bytes(m.value) for m in consume(settings, settings.topic_raw_robot, count=650)
        )
    }
    sets = anchor_sets(settings, 25 + 2)  # 25 Bridge episodes; UMI's 400 steps in two windows of 200
    assert len({a.window_id for a in sets}) == 27
    bridge_sets = [a for a in sets if a.key.startswith("bridge")]
    assert len(bridge_sets) == 25
    for a in bridge_sets:
        steps = [raw[(a.key, i)] for i in range(10)]
        assert a.num_frames == 10 and a.span.last_offset - a.span.first_offset >= 9
        # gripper events sit where the action's gripper channel crosses
        channel = [s.action[-1] for s in steps]
        closes = [i for i in range(1, 10) if channel[i - 1] > 0.5 >= channel[i]]
        opens = [i for i in range(1, 10) if channel[i - 1] <= 0.5 < channel[i]]
        assert [x.frame_index for x in a.anchors if x.type == "gripper_close"] == closes
        assert [x.frame_index for x in a.anchors if x.type == "gripper_open"] == opens
        assert a.instruction == steps[0].instruction
        assert any(x.type == "instruction" and x.content == a.instruction for x in a.anchors)
    umi_sets = sorted((a for a in sets if not a.key.startswith("bridge")), key=lambda a: a.window_id)
    assert [a.num_frames for a in umi_sets] == [200, 200]
    widths = [raw[(umi_sets[0].key, i)].gripper for i in range(400)]
    events = sorted(
        (x.type, int(w.window_id.rsplit(":", 1)[1]) * 200 + x.frame_index)
        for w in umi_sets
        for x in w.anchors
        if x.type in ("gripper_close", "gripper_open")
    )
    assert [t for t, _ in sorted(events, key=lambda e: e[1])] == ["gripper_close", "gripper_open"]
    lo, hi = min(widths), max(widths)  # type: ignore[type-var]
    mid = (lo + hi) / 2  # type: ignore[operator]
    close_at = next(i for i in range(1, 400) if widths[i - 1] > mid >= widths[i])  # type: ignore[operator]
    assert abs(min(events, key=lambda e: e[1])[1] - close_at) <= 3
    # key frames are real JPEGs cut from the UMI video, stored content-addressed
    for kf in umi_sets[0].key_frames:
        data = frame_bytes(kf.uri)
        assert hashlib.sha256(data).hexdigest() == kf.sha256
        assert Image.open(io.BytesIO(data)).size == (224, 224)


def test_gui_trajectories_become_anchor_sets(
    settings: TailorSettings, worker: WorkerProcess, shared_dir: Path
) -> None:
    replay(
        settings,
        ReplayConfig(
            paths=[shared_dir / "data/gui/aitw", shared_dir / "data/gui/mind2web"], rate=0, progress=False
        ),
    )
    sets = {a.key: a for a in anchor_sets(settings, 2)}
    aitw = next(a for k, a in sets.items() if "GOOGLE_APPS" in k)
    actions = [x for x in aitw.anchors if x.type == "gui_action"]
    assert [x.content.split()[0] for x in actions] == ["home", "scroll", "click", "done"]
    ep = json.loads(
        (
            shared_dir / "data/gui/aitw/GOOGLE_APPS-523638528775825151/GOOGLE_APPS-523638528775825151.json"
        ).read_text()
    )
    y, x = json.loads(ep[2]["result_touch_yx"])
    tap = actions[2]
    assert tap.point is not None and abs(tap.point[0] - x * 270) < 1 and abs(tap.point[1] - y * 600) < 1
    assert "Cleck" in tap.content  # the screen parse's label of the Clock icon (sic)
    m2w = next(a for k, a in sets.items() if "GOOGLE_APPS" not in k)
    query = json.loads(
        (shared_dir / "data/gui/mind2web/thumbtack-wedding-photographer/queries.jsonl")
        .read_text()
        .splitlines()[0]
    )
    gold = [x for x in m2w.anchors if x.type == "gui_action"][-1]
    assert gold.content.startswith("click")
    rect = query.get("bounding_box_rect")
    if rect is not None:
        assert gold.bbox is not None and abs(gold.bbox.w - rect[2]) < 1 and abs(gold.bbox.h - rect[3]) < 1
    assert all(kf.uri.startswith("file://") for kf in m2w.key_frames)


def test_late_steps_are_dead_lettered_and_other_keys_unaffected(
    settings: TailorSettings, worker: WorkerProcess
) -> None:
    from streaming.producer import TailorProducer

    assert settings.kafka_bootstrap
    now = time.time()
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as p:
        for i in range(3):
            p.send(
                RobotStep(
                    episode_id="late-ep",
                    step_index=i,
                    timestamp=now + i,
                    state=[0, 0, float(i)],
                    action=[0.0],
                    is_last=i == 2,
                )
            )
    anchor_sets(settings, 1)
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as p:
        p.send(RobotStep(episode_id="late-ep", step_index=1, timestamp=now + 1, state=[0, 0, 1.0]))
        p.send(RobotStep(episode_id="other-ep", step_index=0, timestamp=now, state=[1, 1, 1.0], is_last=True))
    letters = [
        DeadLetter.from_bytes(m.value) for m in consume(settings, settings.topic_dlq, count=1, timeout_s=60)
    ]
    assert [d.reason for d in letters] == ["late_event"]
    keys = [a.key for a in anchor_sets(settings, 2)]
    assert sorted(keys) == ["late-ep", "other-ep"]
