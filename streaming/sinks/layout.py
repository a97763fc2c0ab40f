"""On-disk layout of the example dataset: hive partitions, part-file names, atomic publication.

    <root>/task_family=<family>/date=YYYY-MM-DD/part-<writer>-<seq>.parquet
    <root>/__rejected/task_family=<family>/date=YYYY-MM-DD/part-<writer>-<seq>.parquet   (rejected candidates)

The rejected candidates are a table of their own under `__rejected/` (streaming/sinks/rejected.py): `list_parts`
of the dataset root never descends into it, so Tailor's readers of the training data (exports, cards, pushes,
compaction, the sink's own id scan) never see a rejected row; the card's `datasets` configs glob
`task_family=...` only. The name keeps it out of other readers too: `pyarrow.dataset` and pandas skip
`_`-prefixed folders, and `datasets` skips `__`-prefixed ones when it lists a folder without a card.

Partition values are escaped so any task family is a safe single path segment. Files being written
are dot-prefixed temporaries (`.part-<writer>-<seq>.parquet.tmp`) that readers (`datasets`,
`pyarrow.dataset`) ignore; a finished file is fsynced and published with a hard link, which never
overwrites an existing name, so two writers can never clobber each other's files.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import TailorError

FAMILY_KEY = "task_family"
DATE_KEY = "date"
PART_SUFFIX = ".parquet"
TEMP_SUFFIX = ".tmp"
REJECTED_DIR = "__rejected"  # the rejected candidates' table, beside the hive partitions of the examples
_SAFE = re.compile(r"[A-Za-z0-9_\-]")
_PART_RE = re.compile(r"^part-(?P<writer>[A-Za-z0-9_\-]+)-(?P<seq>[0-9]{8,})\.parquet$")
_TEMP_RE = re.compile(r"^\.part-(?P<writer>[A-Za-z0-9_\-]+)-(?P<seq>[0-9]{8,})\.parquet\.tmp$")


class LayoutError(TailorError, ValueError):
    """A value that cannot be placed in the dataset layout; `reason` is a short label."""


@dataclass(frozen=True, order=True)
class Partition:
    task_family: str
    date: str  # YYYY-MM-DD, UTC

    def relative_dir(self) -> Path:
        return Path(f"{FAMILY_KEY}={escape_value(self.task_family)}") / f"{DATE_KEY}={self.date}"


@dataclass(frozen=True)
class PartFile:
    path: Path
    writer: str
    seq: int


def escape_value(value: str) -> str:
    """Hive-style escaping: every character outside [A-Za-z0-9_-] becomes %XX of its UTF-8 bytes."""
    if not value:
        raise LayoutError("empty_partition_value", "a partition value must not be empty")
    return "".join(ch if _SAFE.fullmatch(ch) else "".join(f"%{b:02X}" for b in ch.encode()) for ch in value)


def part_name(writer: str, seq: int) -> str:
    return f"part-{writer}-{seq:08d}{PART_SUFFIX}"


def temp_name(writer: str, seq: int) -> str:
    return f".{part_name(writer, seq)}{TEMP_SUFFIX}"


def parse_part(path: Path) -> PartFile | None:
    m = _PART_RE.match(path.name)
    return PartFile(path, m["writer"], int(m["seq"])) if m else None


def list_parts(root: Path) -> list[PartFile]:
    """Every published part file under `root`, sorted by path (temporaries and other files excluded), but
    none of the rejected table's (`root/__rejected`; list that folder itself to read them)."""
    if not root.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        top = dirpath == str(root)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not (top and d == REJECTED_DIR))
        for name in filenames:
            part = parse_part(Path(dirpath) / name)
            if part is not None:
                found.append(part)
    return sorted(found, key=lambda p: str(p.path))


def list_temps(root: Path, writer: str) -> list[Path]:
    """Leftover temporaries of one writer (a crash during a write leaves at most one per partition)."""
    if not root.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == str(root):
            dirnames[:] = [d for d in dirnames if d != REJECTED_DIR]  # another table, another sink's files
        for name in filenames:
            m = _TEMP_RE.match(name)
            if m and m["writer"] == writer:
                found.append(Path(dirpath) / name)
    return sorted(found)


def ensure_dir(root: Path, relative: Path) -> Path:
    """Create `root / relative` and fsync every directory whose entry list changed."""
    if not root.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        fsync_dir(root.parent)
    path = root
    for part in relative.parts:
        child = path / part
        if not child.is_dir():
            child.mkdir(exist_ok=True)
            fsync_dir(path)
        path = child
    return path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: Path, final: Path) -> bool:
    """Give the fsynced file `tmp` its final name without overwriting; False if the name is taken."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        return False
    except OSError as err:  # a filesystem without hard links: rename, after checking the name is free
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP) or final.exists():
            raise
        os.rename(tmp, final)
        fsync_dir(final.parent)
        return True
    os.unlink(tmp)
    fsync_dir(final.parent)
    return True
