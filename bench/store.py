"""Case files on disk: `<dir>/version.json` and one `<dir>/<split>/<case_id>.json` per case."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

from pydantic import ValidationError

from bench.case import BenchCase, CaseSetVersion, case_fields
from core.errors import TailorError

log = logging.getLogger(__name__)

DEFAULT_CASES_DIR = Path(__file__).resolve().parent / "cases" / "v2"
VERSION_FILE = "version.json"
SPLITS = ("dev", "heldout")
MAX_CASE_BYTES = 4 << 20


class CaseSetError(TailorError, ValueError):
    """A case set that cannot be read; `reason` is a short label."""


def dumps(data: object) -> str:
    """The canonical JSON text of case files (sorted keys, two-space indent, newline at the end)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def version_of(name: str, cases: list[BenchCase], builder: str) -> CaseSetVersion:
    by_domain: dict[str, dict[str, int]] = {}
    for c in cases:
        by_domain.setdefault(c.split, {}).setdefault(c.domain, 0)
        by_domain[c.split][c.domain] += 1
    return CaseSetVersion(
        name=name,
        case_count=len(cases),
        splits=dict(sorted(Counter(c.split for c in cases).items())),
        by_domain={s: dict(sorted(d.items())) for s, d in sorted(by_domain.items())},
        by_family=dict(sorted(Counter(c.family for c in cases).items())),
        builder=builder,
        recordings={s: sorted({c.recording_id for c in cases if c.split == s}) for s in SPLITS},
    )


def write_cases(out_dir: Path, cases: list[BenchCase], version: CaseSetVersion) -> None:
    """Write the set, replacing case files of an earlier build in `out_dir` (other files are left alone)."""
    ids = [c.case_id for c in cases]
    if len(set(ids)) != len(ids):
        raise CaseSetError("duplicate_case_id", str(sorted(i for i, n in Counter(ids).items() if n > 1)))
    for split in SPLITS:
        folder = out_dir / split
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.json"):
            old.unlink()
    for case in cases:
        (out_dir / case.split / f"{case.case_id}.json").write_text(dumps(case_fields(case)), encoding="utf-8")
    (out_dir / VERSION_FILE).write_text(dumps(version.model_dump(mode="json")), encoding="utf-8")
    log.info("wrote %d cases to %s", len(cases), out_dir)


def read_version(cases_dir: Path) -> CaseSetVersion:
    path = cases_dir / VERSION_FILE
    if not path.is_file():
        raise CaseSetError("no_case_set", f"{path} not found (build one with python -m bench.build_cases)")
    try:
        return CaseSetVersion.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise CaseSetError("bad_version_file", f"{path}: {exc.errors()[0].get('msg')}") from None


def load_cases(cases_dir: Path | None = None, split: str = "dev") -> list[BenchCase]:
    """The cases of one split (`dev`, `heldout` or `all`), sorted by id; checked against version.json."""
    folder = cases_dir or DEFAULT_CASES_DIR
    version = read_version(folder)
    if split not in (*SPLITS, "all"):
        raise CaseSetError("bad_split", f"split must be one of {(*SPLITS, 'all')}, got {split!r}")
    out: list[BenchCase] = []
    for name in SPLITS if split == "all" else (split,):
        for path in sorted((folder / name).glob("*.json")):
            out.append(_read_case(path, name))
    expected = version.case_count if split == "all" else version.splits.get(split, 0)
    if len(out) != expected:
        raise CaseSetError(
            "case_count_mismatch", f"{folder}/{split}: {len(out)} case files, version.json says {expected}"
        )
    return sorted(out, key=lambda c: c.case_id)


def _read_case(path: Path, split: str) -> BenchCase:
    if path.stat().st_size > MAX_CASE_BYTES:
        raise CaseSetError("case_too_large", f"{path} is over {MAX_CASE_BYTES} bytes")
    try:
        case = BenchCase.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise CaseSetError("bad_case_file", f"{path}: {where}: {first.get('msg')}"[:500]) from None
    if case.split != split or path.stem != case.case_id:
        raise CaseSetError("misplaced_case", f"{path} holds case {case.case_id} of split {case.split}")
    return case
