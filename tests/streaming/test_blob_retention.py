"""Retention of spilled media and key frames (issue 20.9): old store files are deleted, nothing else is; a
re-put keeps content alive; sweeps are bounded; the CLI and the worker's sweep use it."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from app.cli import main
from core.blob_retention import info_time, prune_blobs
from core.blobstore import BlobStore
from core.metrics import TailorMetrics
from streaming.retention import register_retention, retention_targets
from streaming.settings import TailorSettings
from tests.conftest import start_worker_process, stop_worker_process

HOUR = 3600.0


def blob(i: int) -> bytes:
    return f"media bytes {i}".encode() * 50


def path_of(root: Path, data: bytes, ext: str = "jpg") -> Path:
    digest = hashlib.sha256(data).hexdigest()
    return root / digest[:2] / f"{digest}.{ext}"


def age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t), follow_symlinks=False)


def test_prune_deletes_only_old_store_files(tmp_path: Path) -> None:
    root, outside = tmp_path / "blobs", tmp_path / "outside"
    outside.mkdir()
    store = BlobStore.for_dir(root)
    store.put(blob(1), "image/jpeg")
    store.put(blob(2), "image/jpeg")
    old, young = path_of(root, blob(1)), path_of(root, blob(2))
    age(old, 2 * HOUR)
    # foreign entries, all old: never the store's to delete
    d3 = hashlib.sha256(blob(3)).hexdigest()
    d4 = hashlib.sha256(blob(4)).hexdigest()
    target = outside / "precious.jpg"
    target.write_bytes(b"not the store's")
    foreign = [
        root / "notes.txt",
        old.parent / "readme.jpg",  # a name that is no hash
        old.parent / f"{old.name}.{uuid.uuid4().hex}.tmp",  # a temporary being written
        root / ("00" if d3[:2] != "00" else "01") / f"{d3}.jpg",  # under the wrong prefix
        root / d3[:2] / f"{d3}.JPG",
    ]
    for f in foreign:
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(b"x")
        age(f, 2 * HOUR)
    link = root / d4[:2] / f"{d4}.jpg"  # a symlink named like a blob: neither it nor its target is deleted
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(target)
    age(target, 2 * HOUR)
    age(link, 2 * HOUR)
    d5 = hashlib.sha256(blob(5)).hexdigest()
    (outside / d5[:2]).mkdir()
    (outside / d5[:2] / f"{d5}.jpg").write_bytes(b"y")
    age(outside / d5[:2] / f"{d5}.jpg", 2 * HOUR)
    if not (root / d5[:2]).exists():
        (root / d5[:2]).symlink_to(outside / d5[:2])  # a directory link at a hash prefix: not followed

    report = prune_blobs(store, HOUR)

    assert report.deleted == [str(old)] and report.deleted_bytes == len(blob(1))
    assert not old.exists() and young.exists()
    assert all(f.exists() for f in foreign) and link.is_symlink() and target.exists()
    assert (outside / d5[:2] / f"{d5}.jpg").exists()
    assert report.kept == 1 and report.ignored >= len(foreign) + 1 and not report.truncated


def test_a_re_put_refreshes_the_age_of_stored_content(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = BlobStore.for_dir(root)
    ref = store.put(blob(1), "image/jpeg")
    age(path_of(root, blob(1)), 2 * HOUR)
    assert store.put(blob(1), "image/jpeg") == ref  # reused after its hash is checked, and touched
    assert time.time() - path_of(root, blob(1)).stat().st_mtime < 60
    assert prune_blobs(store, HOUR).deleted == []
    assert store.get(ref, max_bytes=1 << 20) == blob(1)


def test_an_fsspec_store_is_pruned_by_its_listing_times(tmp_path: Path) -> None:
    uri = f"memory://retention-{uuid.uuid4().hex[:8]}/blobs"
    store = BlobStore(uri, ("memory",))
    fs, root = fsspec.core.url_to_fs(uri)
    refs = [store.put(blob(i), "image/png") for i in range(4)]
    fs.pipe_file(f"{root}/notes.txt", b"foreign")
    paths = [fs._strip_protocol(r.uri) for r in refs]
    later = time.time() + 2 * HOUR

    report = prune_blobs(store, HOUR, max_deletions=2, now=later)
    assert len(report.deleted) == 2 and report.truncated  # stopped at the cap
    report = prune_blobs(store, HOUR, now=later)
    assert len(report.deleted) == 2 and report.ignored == 1 and not report.truncated
    assert not any(fs.exists(p) for p in paths) and fs.exists(f"{root}/notes.txt")

    p9 = fs._strip_protocol(store.put(blob(9), "image/png").uri)
    fs.store[p9].created = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # stored long ago
    store.put(blob(9), "image/png")  # the store cannot touch it: written afresh
    assert prune_blobs(store, HOUR).deleted == [] and fs.exists(p9)


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"mtime": 1_700_000_000.5}, 1_700_000_000.5),  # local, sftp
        ({"LastModified": dt.datetime(2024, 1, 2, tzinfo=dt.UTC)}, 1_704_153_600.0),  # s3
        ({"updated": "2024-01-02T00:00:00Z"}, 1_704_153_600.0),  # gcs
        ({"last_modified": dt.datetime(2024, 1, 2)}, 1_704_153_600.0),  # azure (naive: UTC)
        ({"created": 1_700_000_000}, 1_700_000_000.0),  # memory
        ({"name": "x", "size": 3, "type": "file"}, None),  # no time: the file is kept, counted as no_time
        ({"mtime": "not a time"}, None),
    ],
)
def test_listing_times_of_fsspec_implementations(info: dict[str, Any], expected: float | None) -> None:
    assert info_time(info) == expected


def test_a_sweep_deletes_at_most_max_deletions(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = BlobStore.for_dir(root)
    for i in range(5):
        store.put(blob(i), "image/jpeg")
        age(path_of(root, blob(i)), 2 * HOUR)
    counts = []
    for _ in range(4):
        report = prune_blobs(store, HOUR, max_deletions=2)
        counts.append((len(report.deleted), report.truncated))
    assert counts == [(2, True), (2, True), (1, False), (0, False)]


def test_cli_dry_run_lists_and_deletes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the caller's
    monkeypatch.setenv("TAILOR_DATA_DIR", str(tmp_path / "data"))
    media = BlobStore.for_dir(tmp_path / "data" / "blobs")
    frames = BlobStore.for_dir(tmp_path / "data" / "frames")
    media.put(blob(1), "image/jpeg")
    frames.put(blob(2), "image/png")
    old_media, old_frame = (
        path_of(tmp_path / "data" / "blobs", blob(1)),
        path_of(tmp_path / "data" / "frames", blob(2), "png"),
    )
    age(old_media, 2 * HOUR)
    age(old_frame, 2 * HOUR)

    dry = CliRunner().invoke(main, ["blobs", "prune", "--older-than", str(HOUR), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert (
        str(old_media) in dry.output and str(old_frame) in dry.output and "would delete 1 files" in dry.output
    )
    assert old_media.exists() and old_frame.exists()

    defaults = CliRunner().invoke(main, ["blobs", "prune"])  # the settings' ages: days, so nothing is due
    assert defaults.exit_code == 0 and "deleted 0 files" in defaults.output and old_media.exists()

    real = CliRunner().invoke(main, ["blobs", "prune", "--older-than", str(HOUR), "--store", "media"])
    assert real.exit_code == 0, real.output
    assert not old_media.exists() and old_frame.exists() and "deleted 1 files" in real.output


class TimerRecorder:
    """The one part of a Faust app register_retention uses: `timer`, recording what it was given."""

    def __init__(self) -> None:
        self.timers: dict[str, tuple[float, Any]] = {}

    def timer(self, interval: float, name: str) -> Any:
        def add(fun: Any) -> Any:
            self.timers[name] = (interval, fun)
            return fun

        return add


def test_the_worker_timer_sweeps_both_stores_and_counts(tmp_path: Path) -> None:
    settings = TailorSettings(
        data_dir=tmp_path / "data",
        media_retention_s=HOUR,
        frame_retention_s=3 * HOUR,
        retention_sweep_interval_s=7.0,
        retention_max_deletions=1,
    )
    media = BlobStore.for_dir(tmp_path / "data" / "blobs")
    frames = BlobStore.for_dir(tmp_path / "data" / "frames")
    for i in range(2):
        media.put(blob(i), "image/jpeg")
        age(path_of(tmp_path / "data" / "blobs", blob(i)), 2 * HOUR)
    frames.put(blob(7), "image/png")
    age(path_of(tmp_path / "data" / "frames", blob(7), "png"), 2 * HOUR)  # under the frames' 3 h: kept
    registry = CollectorRegistry()
    app = TimerRecorder()
    register_retention(app, settings, TailorMetrics(registry))  # type: ignore[arg-type]
    interval, sweep = app.timers["tailor.blob_retention"]
    assert interval == 7.0

    asyncio.run(sweep())
    left = list((tmp_path / "data" / "blobs").glob("*/*"))
    assert len(left) == 1  # one deletion per sweep
    assert registry.get_sample_value("tailor_blob_pruned_total", {"store": "media"}) == 1
    assert registry.get_sample_value("tailor_blob_pruned_bytes_total", {"store": "media"}) == len(blob(0))
    assert registry.get_sample_value("tailor_blob_pruned_total", {"store": "frames"}) == 0
    asyncio.run(sweep())
    assert list((tmp_path / "data" / "blobs").glob("*/*")) == []
    assert path_of(tmp_path / "data" / "frames", blob(7), "png").exists()


def test_a_store_kept_for_ever_gets_no_sweep(tmp_path: Path) -> None:
    settings = TailorSettings(data_dir=tmp_path, media_retention_s=0, frame_retention_s=0)
    assert retention_targets(settings) == []
    app = TimerRecorder()
    register_retention(app, settings, TailorMetrics(CollectorRegistry()))  # type: ignore[arg-type]
    assert app.timers == {}
    assert [t.label for t in retention_targets(settings, older_than_s=5.0)] == ["media", "frames"]


def test_one_folder_named_by_both_stores_is_swept_once_at_the_longer_age(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAILOR_BLOB_URI and TAILOR_FRAME_STORE_URI at one folder (spelt differently): key frames there keep
    their 30 days, not the media's 7, in the worker's sweep and in `tailor blobs prune`."""
    shared = tmp_path / "store"
    (tmp_path / "link").symlink_to(shared)
    settings = TailorSettings(
        data_dir=tmp_path / "data",
        blob_uri=shared.as_uri(),
        frame_store_uri=(tmp_path / "link").as_uri() + "/",
        media_retention_s=HOUR,
        frame_retention_s=3 * HOUR,
    )
    (target,) = retention_targets(settings)
    assert (target.label, target.older_than_s, target.name) == ("frames", 3 * HOUR, "media and frames")
    BlobStore.for_dir(shared).put(blob(1), "image/png")
    frame = path_of(shared, blob(1), "png")
    age(frame, 2 * HOUR)  # past the media's hour, inside the frames' three
    registry = CollectorRegistry()
    app = TimerRecorder()
    register_retention(app, settings, TailorMetrics(registry))  # type: ignore[arg-type]
    asyncio.run(app.timers["tailor.blob_retention"][1]())
    assert frame.exists()
    # one folder is one target: --older-than prunes it once, under both names
    monkeypatch.chdir(tmp_path)
    for key, value in (("BLOB_URI", settings.blob_uri), ("FRAME_STORE_URI", settings.frame_store_uri)):
        monkeypatch.setenv(f"TAILOR_{key}", str(value))
    out = CliRunner().invoke(main, ["blobs", "prune", "--older-than", str(HOUR)])
    assert out.exit_code == 0 and "media and frames (" in out.output and "deleted 1 files" in out.output, (
        out.output
    )
    assert out.output.count("deleted") == 1 and not frame.exists()
    # a store kept for ever keeps the shared folder
    forever = settings.model_copy(update={"frame_retention_s": 0})
    assert retention_targets(forever) == []


def test_a_live_worker_sweeps_on_its_timer(settings: TailorSettings, tmp_path: Path) -> None:
    """`tailor up` on the session broker deletes an expired spilled blob within a few sweeps, and counts it."""
    live = settings.model_copy(update={"media_retention_s": HOUR, "retention_sweep_interval_s": 0.5})
    root = live.data_dir / "blobs"
    BlobStore.for_dir(root).put(blob(1), "image/jpeg")
    BlobStore.for_dir(root).put(blob(2), "image/jpeg")
    age(path_of(root, blob(1)), 2 * HOUR)
    wp = start_worker_process(live, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 30
        while path_of(root, blob(1)).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not path_of(root, blob(1)).exists() and path_of(root, blob(2)).exists()
        assert wp.metric("tailor_blob_pruned_total", store="media") == 1
    finally:
        stop_worker_process(wp)
