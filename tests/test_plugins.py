"""Plug-ins through entry points: the example packages of docs/extending.md (its very code blocks) are
installed into a temporary folder (their modules plus a `*.dist-info` with METADATA and entry_points.txt, the
way pip leaves them; no pip, the shared environment untouched) and run: a family on real Bridge windows, a
replay source on a file of its format, a backend chosen by name, an extractor in the robot pipeline, a sink
beside the Parquet one, and in a live worker all of them together. Broken plug-ins (not importable, wrong
type, a built-in's name, a name taken twice) stop the registry with an error naming them."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from agents.anchoring_steps import RobotAnchoring
from agents.extractors.robot.pipeline import RobotExpertPipeline
from agents.synthesis.factory import open_backend
from agents.synthesis_step import synthesize_step
from agents.tasks.base import SynthesisContext, TaskSpec, registry
from core import plugins
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.metrics import TailorMetrics
from core.records import AnchorSet, DeadLetter, Example, MediaRef, RobotStep
from streaming.replay.base import ReplayError
from streaming.replay.detect import detect, open_sources
from streaming.settings import SettingsError, TailorSettings, load_settings
from streaming.sink_stage import SinkStage, plugin_sinks
from streaming.sinks.parquet_sink import ParquetSink
from streaming.sinks.parquet_sink_config import ParquetSinkConfig
from streaming.stage import DeadLetterSink
from tests.agents.tasks.helpers import BRIDGE, anchor_set, need, records
from tests.conftest import REPO
from tests.streaming.sinks.sink_helpers import make_example

DOC = REPO / "docs/extending.md"
BLOCK = re.compile(r"^```(?:toml|python) file=(\S+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
FAMILY, BACKEND, FORMAT, EXPERT, SINK = "gripper_closes", "rule_echo", "robot-csv", "episode_end", "jsonl"


# --- installing without pip ------------------------------------------------------------------------------


def doc_packages() -> dict[str, dict[str, str]]:
    """The example packages of docs/extending.md: package folder → {file name: text}."""
    out: dict[str, dict[str, str]] = {}
    for path, text in BLOCK.findall(DOC.read_text()):
        folder, name = path.split("/")
        out.setdefault(folder, {})[name] = text
    return out


def install(
    site: Path,
    name: str,
    version: str,
    entry_points: dict[str, dict[str, str]],
    modules: dict[str, str] | None = None,
) -> None:
    """What `pip install` leaves for a distribution of top-level modules: the modules and its dist-info."""
    for file, text in (modules or {}).items():
        (site / file).write_text(text)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
            for group, eps in entry_points.items()
        )
    )
    importlib.invalidate_caches()


def install_doc_packages(site: Path) -> list[str]:
    names = []
    for files in doc_packages().values():
        project = tomllib.loads(files.pop("pyproject.toml"))["project"]
        install(site, project["name"], project["version"], project["entry-points"], files)
        names.append(project["name"])
    return names


class Site:
    """A folder on sys.path holding installed distributions; `close` takes it off and forgets its modules."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        sys.path.insert(0, str(path))
        importlib.invalidate_caches()
        plugins.reset()

    def close(self) -> None:
        sys.path.remove(str(self.path))
        for name, module in list(sys.modules.items()):
            if str(self.path) in str(getattr(module, "__file__", "") or ""):
                del sys.modules[name]
        importlib.invalidate_caches()
        plugins.reset()


@pytest.fixture(scope="module")
def doc_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    site = Site(tmp_path_factory.mktemp("site"))
    install_doc_packages(site.path)
    yield site.path
    site.close()


@pytest.fixture
def broken_site(doc_site: Path, tmp_path: Path) -> Iterator[Path]:
    """A second folder for the broken distributions of one test (the doc's packages stay installed)."""
    site = Site(tmp_path / "broken")
    yield site.path
    site.close()


# --- real windows -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> BlobStore:
    return BlobStore.for_dir(tmp_path_factory.mktemp("frames"))


@pytest.fixture(scope="module")
def bridge_windows(doc_site: Path, frames: BlobStore) -> list[AnchorSet]:
    """The 25 Bridge episodes, anchored by the default robot pipeline (which now runs the plug-in expert)."""
    anchoring = RobotAnchoring(frames, LimitsConfig(), RobotExpertPipeline.default())
    return [anchor_set(anchoring, frames, "robot", k, r) for k, r in records(need(BRIDGE), "robot").items()]


def csv_recording(path: Path) -> Path:
    """Two episodes of the doc's CSV format: the gripper open, then closed while the arm lifts."""
    rows = ["episode,t,x,y,z,gripper"]
    for ep in ("csv-ep-1", "csv-ep-2"):
        for i in range(20):
            rows.append(
                f"{ep},{i * 0.1:.1f},{0.3 + 0.01 * i:.3f},0.0,{0.1 + (0.02 * (i - 10) if i > 10 else 0):.3f},"
                f"{1.0 if i < 8 else 0.0}"
            )
    path.write_text("\n".join(rows) + "\n")
    return path


def inline(data: bytes, media_type: str, width: int | None, height: int | None) -> MediaRef:
    return MediaRef.inline(data, media_type, width, height)


# --- the doc -----------------------------------------------------------------------------------------------


def test_the_doc_has_one_complete_package_per_plugin_point() -> None:
    groups = []
    for folder, files in doc_packages().items():
        project = tomllib.loads(files["pyproject.toml"])["project"]
        assert project["name"] == folder and set(files) == {
            "pyproject.toml",
            f"{folder.replace('-', '_')}.py",
        }
        groups.extend(project["entry-points"])
    assert sorted(groups) == sorted(plugins.GROUPS)
    for link in ("docs/extending.md",):
        assert link in (REPO / "README.md").read_text()
    assert "extending.md" in (REPO / "docs/architecture.md").read_text()


# --- each plug-in point -------------------------------------------------------------------------------------


def test_a_plugin_family_joins_the_registry_and_its_rule_output_validates_on_real_windows(
    bridge_windows: list[AnchorSet],
) -> None:
    before = {
        "temporal_qa",
        "tutorial",
        "gui_task_reconstruction",
        "gui_action_extraction",
        "robot_fault_recovery",
        "next_subtask",
        "world_model_sample",
    }
    families = registry()
    assert set(families) == before | {FAMILY}
    family = families[FAMILY]
    assert type(family).__module__ == "tailor_gripper_closes" and family.text_checks is not None
    checked = 0
    for anchors in bridge_windows:
        # the plug-in expert ran in the default pipeline: every Bridge episode ends inside its window
        assert [a.frame_index for a in anchors.anchors if a.type == EXPERT] == [anchors.num_frames - 1]
        ctx = SynthesisContext(anchors, TaskSpec(FAMILY))
        rule = family.rule_output(ctx)
        if rule is None:
            assert not family.applies(anchors)
            continue
        assert family.validate(ctx, rule) == [], anchors.window_id
        assert family.parse(rule.model_dump_json()) == rule
        assert family.prompt(ctx)[0].content.startswith(
            f'You write one training example of the task "{FAMILY}"'
        )
        checked += 1
    assert checked >= 10, f"only {checked} of {len(bridge_windows)} Bridge windows have a gripper close"


def test_a_plugin_backend_is_chosen_by_name_and_synthesises(
    doc_site: Path, bridge_windows: list[AnchorSet], tmp_path: Path
) -> None:
    settings = TailorSettings(data_dir=tmp_path, synth_backend=BACKEND, synth_candidates=2)
    handle = open_backend(settings)
    assert type(handle.backend).__module__ == "tailor_rule_echo" and handle.backend.name == BACKEND
    assert handle.chooser is None
    family = registry()[FAMILY]
    anchors = next(a for a in bridge_windows if family.applies(a))
    result = asyncio.run(
        synthesize_step(handle.backend, family, SynthesisContext(anchors, TaskSpec(FAMILY)), 2)
    )
    (example,) = result.accepted  # the two candidates are the same text: one example, one duplicate
    assert (example.task_family, example.model, result.duplicates, result.rejected) == (
        FAMILY,
        "rule-echo",
        1,
        [],
    )
    assert any(i.startswith("gripper:gripper_close:") for i in example.anchor_ids), example.anchor_ids

    with pytest.raises(
        SettingsError,
        match=r"unknown synthesis backend 'rule_eco'; available: vllm, hf, rules, "
        r"rule_echo \(plug-in\)",
    ):
        load_settings(data_dir=tmp_path, synth_backend="rule_eco")


def test_a_plugin_replay_source_is_detected_and_read_and_anchored(
    doc_site: Path, tmp_path: Path, frames: BlobStore
) -> None:
    path = csv_recording(tmp_path / "arm.csv")
    found = detect(path)
    assert found is not None and found.format_name == FORMAT and found.__module__ == "tailor_robot_csv"
    (source,) = open_sources([tmp_path], None, inline, LimitsConfig())  # found by searching the folder too
    events = list(source.events(1000.0, 2.0))
    assert [e.key for e in events] == ["csv-ep-1"] * 20 + ["csv-ep-2"] * 20
    steps = [e.record for e in events]
    assert all(isinstance(s, RobotStep) for s in steps)
    assert steps[0].is_first and steps[19].is_last and steps[5].timestamp == pytest.approx(1000.25)
    with pytest.raises(ReplayError, match="kind_mismatch"):
        open_sources([path], "gui", inline, LimitsConfig())
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ReplayError, match=f"unknown_format: .*plug-in formats {FORMAT}"):
        open_sources([other], None, inline, LimitsConfig())

    # its episodes through the robot experts (the plug-in's too) and the plug-in family
    anchoring = RobotAnchoring(frames, LimitsConfig(), RobotExpertPipeline.default())
    anchors = anchor_set(anchoring, frames, "robot", "csv-ep-1", steps[:20])
    types = [a.type for a in anchors.anchors]
    assert "gripper_close" in types and EXPERT in types
    family = registry()[FAMILY]
    ctx = SynthesisContext(anchors, TaskSpec(FAMILY))
    rule = family.rule_output(ctx)
    assert rule is not None and family.validate(ctx, rule) == []


class Letters(DeadLetterSink):
    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []

    async def send(self, letter: DeadLetter) -> None:
        self.sent.append(letter)


def test_a_plugin_sink_gets_every_batch_after_the_parquet_sink(doc_site: Path, tmp_path: Path) -> None:
    settings = TailorSettings(data_dir=tmp_path, sink_plugins=(SINK,), worker_id="w7")
    extra = plugin_sinks(settings)
    assert [type(s).__module__ for s in extra] == ["tailor_jsonl_sink"]
    assert plugin_sinks(TailorSettings(data_dir=tmp_path)) == []  # opt-in: installed is not enabled
    parquet = ParquetSink(
        ParquetSinkConfig(root=tmp_path / "examples", writer_id="w7", embed_frames=False), None
    )
    stage = SinkStage(settings, parquet, TailorMetrics(CollectorRegistry()), Letters(), extra)
    examples = [make_example(i, "next_subtask", []) for i in range(3)]
    events = [
        SimpleNamespace(
            key=e.example_id.encode(),
            value=e.to_bytes(),
            message=SimpleNamespace(topic="examples", partition=0, offset=n),
        )
        for n, e in enumerate(examples)
    ]
    asyncio.run(stage.write(events))
    asyncio.run(stage.write(events[1:]))  # a redelivered batch: neither sink writes it twice
    lines = (tmp_path / "jsonl" / "w7.jsonl").read_text().splitlines()
    assert [Example.from_bytes(line.encode()) for line in lines] == examples
    assert parquet.stats.rows_written == 3

    with pytest.raises(
        SettingsError,
        match=r"TAILOR_SINK_PLUGINS: unknown sink plug-in 'csv'; available: "
        r"jsonl \(plug-in\)",
    ):
        load_settings(data_dir=tmp_path, sink_plugins=["csv"])


# --- broken plug-ins -----------------------------------------------------------------------------------------

BAD_MODULE = """
from agents.extractors.base import Extractor


class Gripper(Extractor):
    name = "gripper"
    domain = "robot"

    def extract(self, window):
        return []


def not_a_family(config):
    return "a string"

NOT_A_READER = 42
"""


def fails_families() -> None:
    registry()


def fails_detect() -> None:
    detect(Path("/nonexistent"))


def fails_backend() -> None:
    open_backend(TailorSettings(synth_backend=BACKEND))


def fails_pipeline() -> None:
    RobotExpertPipeline.default()


def fails_sinks() -> None:
    plugin_sinks(TailorSettings(sink_plugins=(SINK,)))


BROKEN: list[tuple[str, str, str, Callable[[], Any], str]] = [
    # group, entry point name, its value, what consults the group, reason
    (plugins.TASK_FAMILIES, "broken", "tailor_not_there:Family", fails_families, "import_failed"),
    (plugins.TASK_FAMILIES, "typo", "tailor_bad:NoSuchClass", fails_families, "import_failed"),
    (
        plugins.TASK_FAMILIES,
        "temporal_qa",
        "tailor_gripper_closes:GripperCloses",
        fails_families,
        "name_clash",
    ),
    (plugins.TASK_FAMILIES, "closes", "tailor_gripper_closes:GripperCloses", fails_families, "name_mismatch"),
    (plugins.TASK_FAMILIES, "strings", "tailor_bad:not_a_family", fails_families, "wrong_type"),
    (plugins.REPLAY_SOURCES, "forty-two", "tailor_bad:NOT_A_READER", fails_detect, "wrong_type"),
    (plugins.REPLAY_SOURCES, "gui-jsonl", "tailor_robot_csv:RobotCsvSource", fails_detect, "name_clash"),
    (plugins.SYNTHESIS_BACKENDS, "rules", "tailor_rule_echo:RuleEcho", fails_backend, "name_clash"),
    (plugins.SYNTHESIS_BACKENDS, "echo", "tailor_rule_echo:RuleEcho", fails_backend, "name_mismatch"),
    (plugins.EXTRACTORS, "gripper", "tailor_bad:Gripper", fails_pipeline, "name_clash"),
    (plugins.EXTRACTORS, EXPERT, "tailor_episode_end:EpisodeEnd", fails_pipeline, "duplicate_name"),
    (plugins.SINKS, SINK, "tailor_jsonl_sink:JsonlSink", fails_sinks, "duplicate_name"),
]


@pytest.mark.parametrize(
    ("group", "name", "value", "consult", "reason"),
    BROKEN,
    ids=[f"{b[0].split('.')[1]}-{b[4]}-{b[1]}" for b in BROKEN],
)
def test_a_broken_plugin_stops_its_registry_with_an_error_naming_it(
    broken_site: Path, group: str, name: str, value: str, consult: Callable[[], Any], reason: str
) -> None:
    install(broken_site, "tailor-broken", "0.2.0", {group: {name: value}}, {"tailor_bad.py": BAD_MODULE})
    with pytest.raises(plugins.PluginError) as info:
        consult()
    err = info.value
    assert (err.group, err.name, err.reason) == (group, name, reason), err
    assert err.dist in ("tailor-broken 0.2.0", "tailor-episode-end 0.1.0", "tailor-jsonl-sink 0.1.0"), err
    assert f"plug-in {name!r} (entry point of {group} in distribution " in str(err)


def test_the_cli_says_which_plugin_is_broken_in_one_line(
    broken_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.cli
    from app.cli import main

    monkeypatch.setattr(app.cli, "_settings", lambda: TailorSettings())  # not the entrypoint's logging set-up
    install(
        broken_site, "tailor-broken", "0.2.0", {plugins.TASK_FAMILIES: {"broken": "tailor_not_there:Family"}}
    )
    result = CliRunner().invoke(main, ["intents", "--families"])
    assert result.exit_code == 1, result.output
    assert (
        "tailor: plug-in 'broken' (entry point of tailor.task_families in distribution tailor-broken 0.2.0): "
        "import_failed: tailor_not_there:Family: ModuleNotFoundError"
    ) in result.output


def test_the_loader_caches_until_reset(broken_site: Path) -> None:
    assert FAMILY in registry()
    install(broken_site, "tailor-late", "1.0", {plugins.TASK_FAMILIES: {"late": "tailor_not_there:Family"}})
    assert "late" not in plugins.names(plugins.TASK_FAMILIES)  # loaded before it was installed: cached
    registry()
    plugins.reset()
    assert "late" in plugins.names(plugins.TASK_FAMILIES)
    with pytest.raises(plugins.PluginError, match="import_failed"):
        registry()
    with pytest.raises(plugins.PluginError, match="unknown_group"):
        plugins.load("tailor.nope")


# --- all five in a live worker --------------------------------------------------------------------------------


def test_plugins_in_a_live_worker(
    doc_site: Path, settings: TailorSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tailor up` with the doc's packages on its PYTHONPATH: the CSV replayed by the plug-in reader, anchored
    with the plug-in expert, synthesised for the plug-in family by the plug-in backend, written by Parquet and
    the plug-in sink."""
    from streaming.intent_publish import IntentRequest, publish_intent
    from streaming.replay.runner import replay
    from streaming.replay.runner_config import ReplayConfig
    from streaming.topics import ensure_topics
    from tests.conftest import start_worker_process, stop_worker_process
    from tests.kafka_helpers import consume

    live = settings.model_copy(
        update={
            "synth_backend": BACKEND,
            "sink_plugins": (SINK,),
            "synth_candidates": 1,
            "intent_model_enabled": False,
        }
    )
    assert live.kafka_bootstrap
    ensure_topics(live, live, live.kafka_bootstrap)
    publish_intent(live, IntentRequest(text="when does the gripper close", domain="robot", task=FAMILY))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(doc_site), os.environ.get("PYTHONPATH")) if p)
    )
    worker = start_worker_process(live, tmp_path / "worker.log")
    try:
        result = replay(
            live, ReplayConfig(paths=[csv_recording(tmp_path / "arm.csv")], rate=0, progress=False)
        )
        assert (result.sources, result.published) == (1, 40)
        deadline, examples = time.monotonic() + 60, []
        while time.monotonic() < deadline and len(examples) < 2:
            examples = [
                Example.from_bytes(m.value) for m in consume(live, live.topic_examples, timeout_s=5, idle_s=1)
            ]
        assert sorted(e.window_id.split(":")[1] for e in examples) == ["csv-ep-1", "csv-ep-2"], worker.log()[
            -3000:
        ]
        assert {(e.task_family, e.model) for e in examples} == {(FAMILY, "rule-echo")}
        anchors = [AnchorSet.from_bytes(m.value) for m in consume(live, live.topic_anchors, count=2)]
        assert all(EXPERT in {a.type for a in s.anchors} for s in anchors)
        sunk: list[str] = []
        while time.monotonic() < deadline and len(sunk) < 2:
            path = live.data_dir / "jsonl" / f"{live.worker_id}.jsonl"
            sunk = path.read_text().splitlines() if path.exists() else []
            time.sleep(0.2)
        assert sorted(json.loads(line)["example_id"] for line in sunk) == sorted(
            e.example_id for e in examples
        )
        assert worker.metric("tailor_sink_rows_total") == 2
    finally:
        stop_worker_process(worker)
