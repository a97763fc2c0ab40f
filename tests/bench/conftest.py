"""Fixtures of the benchmark tests: the committed case set (built from the real data) and one scorer."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.case import BenchCase
from bench.scoring import CaseScorer
from bench.store import DEFAULT_CASES_DIR, load_cases

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"


def need_shared() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"the shared data folder {SHARED} is absent (the benchmark is built from its recordings)")
    return SHARED


@pytest.fixture(scope="session")
def all_cases() -> list[BenchCase]:
    return load_cases(DEFAULT_CASES_DIR, "all")


@pytest.fixture(scope="session")
def scorer() -> CaseScorer:
    return CaseScorer()


@pytest.fixture(scope="session")
def by_id(all_cases: list[BenchCase]) -> dict[str, BenchCase]:
    return {c.case_id: c for c in all_cases}
