"""Retention of a BlobStore: delete the blobs last written more than an age ago.

Only the store's own files are candidates: `xx/<sha256>.<ext>`, with `xx` the hash's first two hex digits,
regular files. Anything else in the root (a producer's files, a temporary being written, a symlink, a
directory) is ignored and counted, never deleted: the root is shared with producers, and a symlink's target
is not the store's to delete. Local directories are opened one level at a time without following links and
files are deleted by name within them, so a directory swapped for a link during a sweep redirects nothing.

The age is the file's modification time: `BlobStore.put` refreshes it when it reuses stored content, so
content still being written by producers or windows is not aged out. A put of the same bytes racing with
their deletion (within the same instant) may still lose its blob; the reader then reports `blob_missing`.
An fsspec store whose listing gives no time for a file keeps it (counted as `no_time`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import time
from dataclasses import dataclass, field
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from core.blobstore import BlobStore

_PREFIX = re.compile(r"[0-9a-f]{2}")
_NAME = re.compile(r"([0-9a-f]{64})\.[a-z0-9]{1,16}")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# time keys of fsspec `info` dicts, most specific first: local/sftp, s3, azure/gcs, others, creation time
_TIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created", "creation_time")


@dataclass
class PruneReport:
    """What one prune did (or, dry, would do) to one store."""

    root_uri: str
    deleted: list[str] = field(default_factory=list)  # paths deleted (dry run: that would be)
    deleted_bytes: int = 0
    kept: int = 0  # store files younger than the age
    ignored: int = 0  # entries that are not store files: foreign names, links, directories, FIFOs
    no_time: int = 0  # store files whose filesystem gives no time (fsspec stores)
    failed: int = 0  # deletions refused by the filesystem
    truncated: bool = False  # stopped at max_deletions: more may be due


def prune_blobs(
    store: BlobStore,
    older_than_s: float,
    max_deletions: int | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneReport:
    """Delete the store's blobs last written more than `older_than_s` seconds before `now` (default: the
    current time), at most `max_deletions` of them (None: no cap). Blocking: run it off the event loop."""
    if older_than_s <= 0:
        raise ValueError("older_than_s must be > 0 (0 means keep for ever: do not prune)")
    cutoff = (time.time() if now is None else now) - older_than_s
    report = PruneReport(store.root_uri)
    fs, root = fsspec.core.url_to_fs(store.root_uri.rstrip("/"))
    if isinstance(fs, LocalFileSystem):
        _prune_local(root, cutoff, max_deletions, dry_run, report)
    else:
        _prune_remote(fs, root.rstrip("/"), cutoff, max_deletions, dry_run, report)
    return report


def root_key(root_uri: str) -> str:
    """Where a store's files are, for telling two store settings that name one folder apart from two: the
    resolved path on the local disk (links and `..` followed), else the protocol and path."""
    fs, root = fsspec.core.url_to_fs(root_uri.rstrip("/"))
    if isinstance(fs, LocalFileSystem):
        return "file://" + os.path.realpath(root)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return f"{protocol}://{root.rstrip('/')}"


def _full(report: PruneReport, max_deletions: int | None) -> bool:
    if max_deletions is not None and len(report.deleted) >= max_deletions:
        report.truncated = True
        return True
    return False


def _prune_local(root: str, cutoff: float, cap: int | None, dry_run: bool, report: PruneReport) -> None:
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the root may be a link
    except FileNotFoundError:
        return  # nothing stored yet
    try:
        for prefix in os.listdir(root_fd):
            if _full(report, cap):
                return
            if not _PREFIX.fullmatch(prefix):
                report.ignored += 1
                continue
            try:
                dir_fd = os.open(prefix, _DIR_FLAGS, dir_fd=root_fd)
            except OSError:  # a symlink (ELOOP), a file (ENOTDIR), gone
                report.ignored += 1
                continue
            try:
                _prune_local_dir(dir_fd, f"{root}/{prefix}", prefix, cutoff, cap, dry_run, report)
            finally:
                os.close(dir_fd)
    finally:
        os.close(root_fd)


def _prune_local_dir(
    dir_fd: int, path: str, prefix: str, cutoff: float, cap: int | None, dry_run: bool, report: PruneReport
) -> None:
    for name in os.listdir(dir_fd):
        if _full(report, cap):
            return
        m = _NAME.fullmatch(name)
        if m is None or not m.group(1).startswith(prefix):
            report.ignored += 1
            continue
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:  # deleted meanwhile (another worker's sweep)
            continue
        if not stat.S_ISREG(st.st_mode):  # a symlink (never followed), a FIFO, a directory
            report.ignored += 1
            continue
        if st.st_mtime >= cutoff:
            report.kept += 1
            continue
        if not dry_run:
            try:
                os.unlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                continue
            except OSError:
                report.failed += 1
                continue
        report.deleted.append(f"{path}/{name}")
        report.deleted_bytes += st.st_size


def _prune_remote(
    fs: fsspec.AbstractFileSystem,
    root: str,
    cutoff: float,
    cap: int | None,
    dry_run: bool,
    report: PruneReport,
) -> None:
    try:
        found: dict[str, dict[str, Any]] = fs.find(root, withdirs=False, detail=True)
    except FileNotFoundError:
        return
    for path, info in sorted(found.items()):
        if _full(report, cap):
            return
        rel = path[len(root) + 1 :] if path.startswith(root + "/") else ""
        prefix, _, name = rel.partition("/")
        m = _NAME.fullmatch(name)
        if (
            not _PREFIX.fullmatch(prefix)
            or m is None
            or not m.group(1).startswith(prefix)
            or info.get("type") != "file"
            or info.get("islink")
        ):
            report.ignored += 1
            continue
        written = info_time(info)
        if written is None:
            report.no_time += 1
            continue
        if written >= cutoff:
            report.kept += 1
            continue
        if not dry_run:
            try:
                fs.rm_file(path)
            except FileNotFoundError:
                continue
            except OSError:
                report.failed += 1
                continue
        report.deleted.append(path)
        report.deleted_bytes += int(info.get("size") or 0)


def info_time(info: dict[str, Any]) -> float | None:
    """The last-written time (epoch seconds) of an fsspec `info` dict, if it has one: a number, a datetime or
    an ISO 8601 string, by the key names fsspec implementations use."""
    for key in _TIME_KEYS:
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value)  # 3.11 reads a trailing Z
            except ValueError:
                continue
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:  # fsspec implementations give naive times in UTC
                value = value.replace(tzinfo=dt.UTC)
            return value.timestamp()
    return None
