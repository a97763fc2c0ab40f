"""`tailor dataset card` and `tailor dataset push` on a dataset written by the real sink from real windows
(two Bridge episodes, the AITW episode; the rules backend's outputs judged by the families' validators):
the card's YAML parses, `datasets.load_dataset(DIR, name=family)` loads every config with its images,
source recordings and their licences (stamped as `tailor replay` stamps them) are listed, hostile intent
text is escaped; a push to a local folder copies the same files (and mirrors deletions), and a push to
the hub with no hub reachable fails with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import datasets
import pytest
import yaml
from PIL import Image

from agents.anchoring_steps import GuiAnchoring, RobotAnchoring
from agents.extractors.gui.pipeline import GuiExpertPipeline
from agents.extractors.gui.pipeline_config import GuiPipelineConfig
from agents.extractors.robot.pipeline import RobotExpertPipeline
from agents.synthesis.base import Generation
from agents.synthesis_step import judge
from agents.tasks.base import SynthesisContext, TaskSpec, registry
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import Example, GuiStep
from core.window import ClosedWindow
from streaming.replay.licences import with_licence
from streaming.replay.licences_config import LicenceConfig
from streaming.sinks.parquet_sink import ParquetSink
from streaming.sinks.parquet_sink_config import ParquetSinkConfig
from tests.agents.tasks.helpers import AITW, BRIDGE, anchor_set, need, records

REPO = Path(__file__).resolve().parents[3]
HOSTILE = 'gui data <script>alert("x")</script> | `code` ![img](http://evil)'


@dataclass(frozen=True)
class Built:
    root: Path
    examples: list[Example]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    need(BRIDGE)
    need(AITW)
    tmp = tmp_path_factory.mktemp("card")
    frames = BlobStore.for_dir(tmp / "frames")
    robot = RobotAnchoring(frames, LimitsConfig(), RobotExpertPipeline.default())
    gui = GuiAnchoring(frames, LimitsConfig(), GuiExpertPipeline.default(GuiPipelineConfig(ocr=False)))
    windows = [
        anchor_set(robot, frames, "robot", k, r) for k, r in list(records(BRIDGE, "robot").items())[:2]
    ]
    windows += [anchor_set(gui, frames, "gui", k, r) for k, r in records(AITW, "gui").items()]
    examples: list[Example] = []
    for window in windows:
        for name, family in registry().items():
            if window.domain not in family.domains:
                continue
            text = HOSTILE if window.domain == "gui" else "robot next steps"
            ctx = SynthesisContext(window, TaskSpec(name, intent_id=f"i-{window.domain}", text=text))
            rule = family.rule_output(ctx)
            if rule is not None:
                step = judge(family, ctx, Generation(texts=[rule.model_dump_json()], model="rules"))
                examples += step.accepted
    root = tmp / "ds"
    sink = ParquetSink(ParquetSinkConfig(root=root, writer_id="w1"), frames).open()
    assert sink.add(examples) == len(examples) > 4
    sink.flush()
    return Built(root, examples)


def tailor(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAILOR_")}
    env |= {"PYTHONPATH": str(REPO), "TAILOR_DATA_DIR": str(tmp / "data"), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "app.cli", *args]
    return subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, timeout=120)


def card_meta(path: Path) -> tuple[dict, str]:  # type: ignore[type-arg]
    text = path.read_text()
    assert text.startswith("---\n")
    header, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(header), body


def load(root: Path, family: str, cache: Path) -> datasets.Dataset:
    return datasets.load_dataset(str(root), name=family, split="train", cache_dir=str(cache))


def test_card_loads_by_config_and_names_recordings_and_licences(built: Built, tmp_path: Path) -> None:
    proc = tailor(tmp_path, "dataset", "card", str(built.root), "--name", "Robot and GUI <demo>")
    assert proc.returncode == 0, proc.stderr
    meta, body = card_meta(built.root / "README.md")
    families = sorted({e.task_family for e in built.examples})
    assert [c["config_name"] for c in meta["configs"]] == families
    assert meta["license"] == ["apache-2.0", "cc-by-4.0"]  # AITW and BridgeData V2
    for family in families:
        ds = load(built.root, family, tmp_path / "hf")
        want = {e.example_id for e in built.examples if e.task_family == family}
        assert set(ds["example_id"]) == want and set(ds["task_family"]) == {family}
        cited = [e for e in built.examples if e.task_family == family and e.frames]
        if cited:
            row = next(r for r in ds if r["example_id"] == cited[0].example_id)
            assert len(row["frames"]) == len(cited[0].frames) and isinstance(row["frames"][0], Image.Image)
    # counts by family and domain, recordings with their licences, no raw hostile text
    robot = sum(1 for e in built.examples if e.window_id.startswith("robot:"))
    assert f"| robot | {robot} |" in body
    assert (
        "| robot | bridge_dataset-train.tfrecord-00000-of-00001 | CC-BY-4.0 (BridgeData V2, Walke et al.) |"
        in body
    )
    assert "| gui | aitw | Apache-2.0 (Android in the Wild" in body
    assert (
        "<script>" not in body
        and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &#124; &#96;code&#96;" in body
    )
    assert "# Robot and GUI &lt;demo&gt;" in body and "| r_total |" in body


def test_push_to_a_local_folder_mirrors_the_dataset_and_the_hub_refuses_offline(
    built: Built, tmp_path: Path
) -> None:
    target = tmp_path / "repo"
    stale = target / "task_family=old/date=2020-01-01/part-x-00000000.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"compacted away")
    proc = tailor(tmp_path, "dataset", "push", str(built.root), f"file://{target}")
    assert proc.returncode == 0, proc.stderr
    assert "removed 1 stale part files" in proc.stdout and not stale.exists()
    pushed = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    source = sorted(str(p.relative_to(built.root)) for p in built.root.rglob("*") if p.is_file())
    assert pushed == source and "README.md" in pushed
    meta, _ = card_meta(target / "README.md")
    first = meta["configs"][0]["config_name"]
    assert len(load(target, first, tmp_path / "hf")) == sum(e.task_family == first for e in built.examples)
    # a hub repository id with no hub reachable: one line, exit 1, nothing half-done locally
    proc = tailor(tmp_path, "dataset", "push", str(built.root), "someone/tailor-demo")
    assert proc.returncode == 1 and "hub_offline" in proc.stderr and "Traceback" not in proc.stderr


def test_replay_stamps_known_and_given_licences_and_windows_carry_them() -> None:
    steps = records(need(AITW), "gui")
    first: GuiStep = next(iter(steps.values()))[0]  # type: ignore[assignment]
    assert first.source == "aitw" and first.licence is not None and first.licence.startswith("Apache-2.0")
    bare = first.model_copy(update={"licence": None})
    assert with_licence(bare, LicenceConfig(licence="CC0-1.0")).licence == "CC0-1.0"  # type: ignore[attr-defined]
    unknown = bare.model_copy(update={"source": "my-own-recording"})
    assert with_licence(unknown, LicenceConfig()).licence is None  # type: ignore[attr-defined]
    window = ClosedWindow("gui", "k", 0, "tailor.raw.gui", 0, 0, 1, [unknown, first])
    assert window.provenance() == ("my-own-recording", first.licence)
