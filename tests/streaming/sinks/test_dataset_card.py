"""`tailor dataset card`, `tailor dataset push` and `tailor ui` on a dataset written by the real sink from real windows
(two Bridge episodes, the AITW episode; the rules backend's outputs judged by the families' validators):
the card's YAML parses, `datasets.load_dataset(DIR, name=family)` loads every config with its images,
source recordings and their licences (stamped as `tailor replay` stamps them) are listed, hostile intent
text is escaped; a push to a local folder copies the same files (and mirrors deletions), and a push to
the hub with no hub reachable fails with one clear line; the audit page (`tailor ui`), read over HTTP and in
headless Chromium driven over WebDriver, shows an example's key frames, its window's anchors on a timeline with
the cited ones highlighted, the rejected candidates (the dataset's `__rejected/` table) with their reasons, and
escapes hostile text; no reader of the training data (exports, configs, pushes, pyarrow) sees a rejected row."""

from __future__ import annotations

import hashlib
import html
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import datasets
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from agents.anchoring_steps import GuiAnchoring, RobotAnchoring
from agents.extractors.gui.pipeline import GuiExpertPipeline
from agents.extractors.gui.pipeline_config import GuiPipelineConfig
from agents.extractors.robot.pipeline import RobotExpertPipeline
from agents.synthesis.base import Generation
from agents.synthesis_step import TIMELINE_MAX_ANCHORS, judge, window_timeline
from agents.tasks.base import SynthesisContext, TaskSpec, registry
from app.audit_config import AuditConfig
from app.audit_pages import example_link, rejected_link
from app.audit_server import make_server
from core.blobstore import BlobStore
from core.limits_config import LimitsConfig
from core.records import AnchorSet, Example, GuiStep, RejectedExample
from core.window import ClosedWindow
from streaming.replay.licences import with_licence
from streaming.replay.licences_config import LicenceConfig
from streaming.sinks.card import write_card
from streaming.sinks.exports import export_dataset
from streaming.sinks.exports_config import ExportConfig
from streaming.sinks.layout import list_parts
from streaming.sinks.parquet_sink import ParquetSink
from streaming.sinks.parquet_sink_config import ParquetSinkConfig
from streaming.sinks.reader import read_examples
from streaming.sinks.rejected import RejectedSink, iter_rejected, rejected_root
from streaming.sinks.upgrade import old_parts
from tests.agents.tasks.helpers import AITW, BRIDGE, anchor_set, need, records
from tests.webdriver import ChromeDriver

REPO = Path(__file__).resolve().parents[3]
HOSTILE = 'gui data <script>alert("x")</script> | `code` ![img](http://evil)'


@dataclass(frozen=True)
class Built:
    root: Path
    examples: list[Example]
    frames: BlobStore
    rejected: list[RejectedExample]  # in the dataset's __rejected/ table


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
    rejected: list[RejectedExample] = []
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
                if not rejected:  # the same output by another maker, under an unreachable reward floor
                    floor = judge(
                        family, ctx, Generation(texts=[rule.model_dump_json()], model="strict-rules"), 99.0
                    )
                    rejected += floor.rejected
            if window.domain == "gui" and name == "tutorial" and rule is not None:
                # a tutorial of the first two steps: it cites the anchors of its frames, not all the window's
                short = json.loads(rule.model_dump_json())
                short["steps"] = short["steps"][:2]
                step = judge(family, ctx, Generation(texts=[json.dumps(short)], model="rules"))
                assert len(step.accepted) == 1 and len(step.accepted[0].cited_anchors) < len(window.anchors)
                examples += step.accepted
                # and output that is not the family's JSON
                rejected += judge(family, ctx, Generation(texts=["no json here"], model="rules")).rejected
    root = tmp / "ds"
    sink = ParquetSink(ParquetSinkConfig(root=root, writer_id="w1"), frames).open()
    assert sink.add(examples) == len(examples) > 4
    sink.flush()
    refused = RejectedSink(
        ParquetSinkConfig(root=root, writer_id="w1")
    ).open()  # the same writer id: no clash
    assert refused.add(rejected) == len(rejected) >= 2
    refused.flush()
    return Built(root, examples, frames, rejected)


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


def test_rejected_candidates_are_a_table_of_their_own_and_never_training_data(
    built: Built, tmp_path: Path
) -> None:
    """The __rejected/ table holds every rejected candidate once, with its reasons, rewards, source offsets and
    its window's anchors; a second writer replaying them adds nothing; the readers of the training data (the
    reader, `tailor export`, pyarrow.dataset and `datasets` over the folder) see the accepted rows only."""
    stored = [s.rejected for s in iter_rejected(built.root)]
    assert sorted(r.example_id for r in stored) == sorted(r.example_id for r in built.rejected)
    by_id = {r.example_id: r for r in built.rejected}
    for got in stored:
        want = by_id[got.example_id]
        assert got.model_dump(exclude={"created_at"}) == want.model_dump(exclude={"created_at"})
        assert abs(got.created_at - want.created_at) < 1e-5 and got.source is not None and got.window_anchors
    assert {r.reasons[0] for r in stored} >= {"reward_below_minimum", "invalid_json"}
    assert all(
        p.path.is_relative_to(rejected_root(built.root)) for p in list_parts(rejected_root(built.root))
    )
    again = RejectedSink(ParquetSinkConfig(root=built.root, writer_id="w2")).open()
    assert again.add(built.rejected) == 0 and again.flush() == []  # exactly once across writers and restarts

    accepted = sorted(e.example_id for e in built.examples)
    assert sorted(e.example_id for e in read_examples(built.root)) == accepted
    out = tmp_path / "sft.jsonl"
    assert export_dataset(ExportConfig(dataset_dir=built.root, out=out, format="sft")).written == len(
        accepted
    )
    assert sorted(json.loads(line)["example_id"] for line in out.read_text().splitlines()) == accepted
    table = pa_ds.dataset(
        str(built.root), format="parquet", partitioning="hive", exclude_invalid_files=True
    ).to_table(columns=["example_id"])
    assert sorted(table.column("example_id").to_pylist()) == accepted
    # `datasets` listing the folder itself (no card configs): the __-prefixed folder is skipped too
    hf = datasets.load_dataset(
        "parquet", data_dir=str(built.root), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert sorted(hf["example_id"]) == accepted


def test_a_rows_window_timeline_is_bounded(built: Built) -> None:
    """Rows repeat their window's anchors for the timeline: content cut to 200 characters, at most 2,000."""
    ex = showcase(built)
    long = ex.window_anchors[0].model_copy(update={"content": "x" * 5000})
    window = AnchorSet(
        window_id=ex.window_id,
        domain="gui",
        key="k",
        span=ex.source,
        num_frames=4,
        anchors=[long.model_copy(update={"anchor_id": f"a{n}"}) for n in range(TIMELINE_MAX_ANCHORS + 100)],
        created_at=0.0,
    )
    timeline = window_timeline(window)
    assert len(timeline) == TIMELINE_MAX_ANCHORS and {len(a.content) for a in timeline} == {200}
    assert [a.anchor_id for a in timeline] == [f"a{n}" for n in range(TIMELINE_MAX_ANCHORS)]


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
    training = [p for p in source if not p.startswith("__rejected/")]
    assert pushed == training and "README.md" in pushed and len(training) < len(source)  # rejected stay home
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


# --- the audit page (`tailor ui`): served over HTTP, read back and shown in a real browser ---

BAD_ID = "x'><script>alert(1)</script>"


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture(scope="module")
def audit_url(built: Built) -> Iterator[str]:
    server = make_server(built.root, AuditConfig(port=0), built.frames)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.url
    server.shutdown()
    server.server_close()


def until(ready: Callable[[], bool], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, "the page did not get there in time"
        time.sleep(0.05)


def showcase(built: Built) -> Example:
    """An example with key frames and cited anchors whose window has anchors it does not cite."""
    return max(
        built.examples,
        key=lambda e: (
            bool(e.frames and e.cited_anchors),
            len(e.window_anchors) - len(e.cited_anchors),
            len(e.frames),
        ),
    )


def test_the_audit_page_shows_an_example_beside_its_frames_and_anchors(built: Built, audit_url: str) -> None:
    status, headers, body = get(audit_url)
    page = body.decode()
    assert status == 200 and "default-src 'none'" in headers["Content-Security-Policy"]
    assert all(html.escape(e.example_id, quote=True) in page for e in built.examples)
    assert "<script>" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    _, _, body = get(audit_url + "?family=tutorial")
    tutorial = {e.example_id for e in built.examples if e.task_family == "tutorial"}
    assert sum(e.example_id in body.decode() for e in built.examples) == len(tutorial) > 0

    ex = showcase(built)
    assert ex.frames and ex.cited_anchors
    status, _, body = get(audit_url + "example?" + urllib.parse.urlencode({"id": ex.example_id}))
    page = body.decode()
    assert status == 200 and "<script>" not in page
    for n, ref in enumerate(ex.frames):
        src = html.escape("/frame?" + urllib.parse.urlencode({"id": ex.example_id, "n": n}), quote=True)
        assert f"<img src='{src}'" in page and f"frame index {ref.frame_index}," in page
        status, headers, data = get(audit_url.rstrip("/") + html.unescape(src))
        assert status == 200 and headers["Content-Type"].startswith("image/")
        assert hashlib.sha256(data).hexdigest() == ref.sha256
        Image.open(io.BytesIO(data)).verify()
    for anchor in ex.cited_anchors:
        assert f"<td>{html.escape(anchor.anchor_id)}</td><td>{html.escape(anchor.type)}</td>" in page
    # the window's anchors on the timeline, the cited ones highlighted; the rest listed below it
    assert len(ex.window_anchors) > len(ex.cited_anchors)
    assert page.count("class='tick anchor") == len(ex.window_anchors)
    assert page.count("class='tick anchor cited") == len(ex.cited_anchors)
    assert f"All {len(ex.window_anchors)} anchors of the window" in page
    src = ex.source
    assert f"{src.topic} partition {src.partition} offsets {src.first_offset}-{src.last_offset}" in page
    assert "r_total" in page and "rules / base" in page and html.escape(ex.licence or "") in page
    assert get(audit_url + "example?id=nope")[0] == 404

    # accepted by default; the rejected filter lists the rejected table, with the reasons
    assert not any(r.example_id in get(audit_url)[2].decode() for r in built.rejected)
    listing = get(audit_url + "?status=rejected")[2].decode()
    assert all(html.escape(", ".join(r.reasons)) in listing for r in built.rejected)
    assert all(r.example_id in listing for r in built.rejected)
    assert not any(e.example_id in listing for e in built.examples)
    rej = next(r for r in built.rejected if r.reasons == ["reward_below_minimum"])
    status, _, body = get(audit_url + "rejected?" + urllib.parse.urlencode({"id": rej.example_id}))
    page = body.decode()
    assert (
        status == 200
        and "<p class='reasons'>reward_below_minimum</p>" in page
        and html.escape(rej.details[0]) in page
    )
    assert page.count("class='tick anchor") == len(rej.window_anchors) > 0 and "tick anchor cited" not in page
    assert rej.source is not None and f"offsets {rej.source.first_offset}-{rej.source.last_offset}" in page
    assert get(audit_url + "rejected?" + urllib.parse.urlencode({"id": ex.example_id}))[0] == 404
    assert get(audit_url + "frame?" + urllib.parse.urlencode({"id": ex.example_id, "n": 99}))[0] == 404


def test_an_example_page_in_a_real_browser_shows_its_frames_and_anchors(
    built: Built, audit_url: str, chromium: ChromeDriver, tmp_path: Path
) -> None:
    """Headless Chromium over WebDriver: the list links the example; its page shows every key frame decoded
    (naturalWidth > 0) with its frame index, and its cited anchors in the table and on the time line."""
    ex = showcase(built)
    with chromium.session() as browser:
        browser.get(audit_url)
        [link] = browser.find_all(f"a[href='{example_link(ex.example_id)}']")
        browser.click(link)
        assert browser.current_url() == audit_url.rstrip("/") + example_link(ex.example_id)
        deadline = time.monotonic() + 20
        while not all(browser.script("return Array.from(document.images).map(i => i.complete)")):
            assert time.monotonic() < deadline, "the key frames did not finish loading"
            time.sleep(0.05)
        images = browser.script("return Array.from(document.images).map(i => [i.naturalWidth, i.alt])")
        served = [
            get(audit_url + "frame?" + urllib.parse.urlencode({"id": ex.example_id, "n": n}))[2]
            for n in range(len(ex.frames))
        ]
        want = [
            [Image.open(io.BytesIO(data)).width, f"key frame {f.frame_index}"]
            for data, f in zip(served, ex.frames)
        ]
        assert images == want and all(w > 0 for w, _ in images)
        captions = [browser.text(e) for e in browser.find_all("figcaption")]
        assert [c.split(",")[0] for c in captions] == [f"frame index {f.frame_index}" for f in ex.frames]
        listed = [browser.text(e) for e in browser.find_all(".timeline + table tr td:first-child")]
        assert listed == [a.anchor_id for a in ex.cited_anchors]
        ticks = browser.script(
            "return Array.from(document.querySelectorAll('.timeline .tick.anchor'))"
            ".map(t => [t.classList.contains('cited'), t.textContent, t.getBoundingClientRect().height > 0])"
        )
        cited = {a.anchor_id for a in ex.cited_anchors}
        window = sorted(ex.window_anchors, key=lambda a: a.timestamp)  # every anchor of the window, drawn
        assert ticks == [[a.anchor_id in cited, a.type, True] for a in window]
        shot = browser.screenshot()
        # the list's filter: the rejected candidates, each with its reasons, and one's page
        browser.get(audit_url)
        browser.script("document.querySelector(\"select[name='status']\").value = 'rejected'")
        browser.click(browser.find_all("form button")[0])  # a form submit: the click does not wait for it
        until(lambda: "status=rejected" in browser.current_url() and bool(browser.find_all("td .reasons")))
        reasons = sorted(browser.text(e) for e in browser.find_all("td .reasons"))
        assert reasons == sorted(", ".join(r.reasons) for r in built.rejected)
        rej = built.rejected[0]
        browser.click(browser.find_all(f"a[href='{rejected_link(rej.example_id)}']")[0])
        until(lambda: bool(browser.find_all("p.reasons")))
        assert browser.text(browser.find_all("p.reasons")[0]) == ", ".join(rej.reasons)
        assert len(browser.find_all(".timeline .tick.anchor")) == len(rej.window_anchors)
    assert shot.startswith(b"\x89PNG\r\n\x1a\n") and Image.open(io.BytesIO(shot)).width == 1280
    (tmp_path / "audit_example.png").write_bytes(shot)
    if os.environ.get("TAILOR_TEST_ARTIFACTS"):
        out = Path(os.environ["TAILOR_TEST_ARTIFACTS"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "audit_example.png").write_bytes(shot)


def test_the_audit_page_escapes_hostile_rows_and_reads_referenced_frames_from_the_store(
    built: Built, tmp_path: Path
) -> None:
    """A row whose id, output and anchors are hostile, with its frames kept in the frame store only."""
    base = next(e for e in built.examples if e.frames and e.cited_anchors)
    hostile_anchor = base.cited_anchors[0].model_copy(update={"content": "</td><img src=x onerror=alert(2)>"})
    ex = base.model_copy(
        update={
            "example_id": BAD_ID,
            "output_json": json.dumps({"answer": "</pre><script>alert(3)</script>"}),
            "cited_anchors": [hostile_anchor, *base.cited_anchors[1:]],
        }
    )
    root = tmp_path / "ds"
    sink = ParquetSink(ParquetSinkConfig(root=root, writer_id="w1", embed_frames=False), built.frames).open()
    sink.add([ex])
    sink.flush()
    server = make_server(root, AuditConfig(port=0), built.frames)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        listing = get(server.url)[2].decode()
        page = get(server.url + "example?" + urllib.parse.urlencode({"id": BAD_ID}))[2].decode()
        frame = get(server.url + "frame?" + urllib.parse.urlencode({"id": BAD_ID, "n": 0}))
    finally:
        server.shutdown()
        server.server_close()
    for text in (listing, page):
        assert "<script>" not in text and "<img src=x" not in text
    assert "&lt;/td&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;/pre&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in page
    assert html.escape(urllib.parse.urlencode({"id": BAD_ID}), quote=True) in listing
    assert frame[0] == 200 and hashlib.sha256(frame[2]).hexdigest() == base.frames[0].sha256


def test_tailor_ui_serves_on_loopback(built: Built, tmp_path: Path) -> None:
    from app.cli import main

    assert main.commands["audit"].callback is main.commands["ui"].callback  # the first name still works
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAILOR_")}
    env |= {"PYTHONPATH": str(REPO), "TAILOR_DATA_DIR": str(tmp_path / "data")}
    cmd = [sys.executable, "-m", "app.cli", "ui", str(built.root), "--port", "0"]
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"serving {len(built.examples)} examples on http://127.0.0.1:"), line
        assert proc.stdout.readline().startswith(f"and {len(built.rejected)} rejected candidates on http")
        status, _, body = get(line.split(" on ", 1)[1].strip())
        assert status == 200 and built.examples[0].example_id in body.decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_upgrade_lets_datasets_load_a_family_whose_files_span_sink_schemas(
    built: Built, tmp_path: Path
) -> None:
    """A schema-3 part file (no recording / licence) beside a schema-4 one of the same family: `datasets`
    refuses the mix; the card says so; `tailor dataset upgrade` rewrites the old file and it loads."""
    root = tmp_path / "ds"
    shutil.copytree(built.root, root)
    (root / "README.md").unlink(missing_ok=True)
    family = "world_model_sample"
    part = next(p.path for p in list_parts(root) if f"task_family={family}/" in str(p.path))
    table = pq.read_table(part, partitioning=None)
    old = table.drop_columns(["recording", "licence"])
    old = old.replace_schema_metadata({**old.schema.metadata, b"tailor.sink_schema_version": b"3"})
    pq.write_table(old.slice(0, 1), part.with_name("part-old-00000000.parquet"))
    pq.write_table(table.slice(1), part)
    write_card(root)
    with pytest.raises(datasets.exceptions.DatasetGenerationError):
        load(root, family, tmp_path / "hf1")
    assert "1 part files are of an older sink schema" in (root / "README.md").read_text()

    proc = tailor(tmp_path, "dataset", "upgrade", str(root))
    assert proc.returncode == 0 and "upgraded 1 part files" in proc.stdout, proc.stderr
    ds = load(root, family, tmp_path / "hf2")
    assert sorted(ds["example_id"]) == sorted(e.example_id for e in built.examples if e.task_family == family)
    assert old_parts(root) == [] and {r["licence"] for r in ds} == {
        None,
        "CC-BY-4.0 (BridgeData V2, Walke et al.)",
    }
    assert sorted(e.example_id for e in read_examples(root)) == sorted(e.example_id for e in built.examples)
