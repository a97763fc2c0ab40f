"""docs/deploy.md names only real settings and real metric families."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import TailorMetrics
from streaming.settings import OTHER_VARIABLES, known_names
from tests.conftest import REPO
from tests.deploy.deploy_files import scraped_names

DOC = REPO / "docs/deploy.md"
# exported by `tailor trainer`, not by the worker's registry
TRAINER_METRICS = {"tailor_trainer_gate_total", "tailor_trainer_leader"}


def test_every_tailor_variable_in_the_guide_is_a_setting() -> None:
    fields = known_names() | set(
        OTHER_VARIABLES
    )  # nested ones (TAILOR_TASKS__...) and TAILOR_CONFIG_FILE too
    named = set(re.findall(r"\bTAILOR_([A-Z][A-Z0-9_]*[A-Z0-9])\b", DOC.read_text()))
    assert named, "the guide names no settings?"
    unknown = sorted(f"TAILOR_{n}" for n in named if f"TAILOR_{n}" not in fields)
    assert not unknown, f"docs/deploy.md names variables that are not settings: {unknown}"


def test_every_metric_in_the_guide_exists() -> None:
    text = generate_latest(TailorMetrics(CollectorRegistry()).registry).decode()
    declared, _ = scraped_names(text)
    declared |= {f.name for f in text_string_to_metric_families(text) if f.type == "histogram"}
    named = set(re.findall(r"\btailor_[a-z0-9_]*[a-z0-9]\b", DOC.read_text()))
    unknown = sorted(n for n in named - TRAINER_METRICS if n not in declared)
    assert not unknown, f"docs/deploy.md names metrics that core/metrics.py does not define: {unknown}"
