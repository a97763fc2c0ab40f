"""Nothing is ever unpickled: JSON/raw serializers on every Faust topic, no pickle-based loading in the code."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from core.metrics import TailorMetrics
from streaming.app import create_app
from streaming.settings import TailorSettings

REPO = Path(__file__).resolve().parents[2]
UNSAFE = re.compile(
    r"\bimport pickle\b|\bpickle\.loads?\(|\bcloudpickle\b|\bjoblib\.load\(|\bdill\.loads?\(|"
    r"torch\.load\((?![^)]*weights_only=True)|\bnp\.load\([^)]*allow_pickle=True|use_safetensors=False"
)


def test_faust_app_and_topics_use_raw_bytes_never_pickle(tmp_path: Path) -> None:
    from agents.synthesis.factory import BackendHandle
    from agents.synthesis.rules_backend import RulesBackend

    settings = TailorSettings(kafka_bootstrap="127.0.0.1:1", data_dir=tmp_path)
    tailor = create_app(
        settings, TailorMetrics(CollectorRegistry()), synthesis=BackendHandle(RulesBackend(), None)
    )
    conf = tailor.faust_app.conf
    assert conf.key_serializer == "raw" and conf.value_serializer == "raw"
    # three ingest agents, synthesis, the Parquet sink and its rejected table
    assert len(tailor.faust_app.agents) == 6
    for agent in tailor.faust_app.agents.values():
        topic = agent.channel
        assert topic.value_serializer == "raw" and topic.key_serializer == "raw", topic


def test_no_pickle_based_loading_in_the_code() -> None:
    hits = []
    for package in ("streaming", "agents", "trainer", "bench"):
        for path in (REPO / package).rglob("*.py"):
            for no, line in enumerate(path.read_text().splitlines(), 1):
                if UNSAFE.search(line):
                    hits.append(f"{path.relative_to(REPO)}:{no}: {line.strip()}")
    assert hits == []
