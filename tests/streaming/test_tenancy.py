"""Issue 20 item 8: tenants. A tenant's window keys are its own (`<tenant>~<key>`), and where the worker holds
tenant keys a record naming a tenant must carry its HMAC header, so another producer can neither inject
steps into a tenant's session nor make its later steps late; intents are capped in count and in jobs per
window, with reason-labelled drops."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from agents.intents import IntentParser
from agents.tasks.catalog import families
from core.blobstore import BlobStore
from core.dlq import SourcePosition
from core.metrics import TailorMetrics
from core.records import AnchorSet, DeadLetter, GuiAction, GuiStep, Intent, RecordError
from core.tenancy import tenant_mac
from core.window import ClosedWindow
from streaming.ingest import IngestStage
from streaming.ingest_checks import checks_for
from streaming.intent_book import IntentBook
from streaming.kafka_clients import kafka_python_kwargs
from streaming.producer import TailorProducer
from streaming.settings import TailorSettings
from streaming.stage import DeadLetterSink
from streaming.synthesis_stage import SynthesisStage
from streaming.tenancy_config import TenancyConfig
from streaming.topics import ensure_topics, spec_for
from streaming.windows import GuiKeys, WindowCloser, Windower, WindowState
from streaming.windows_config import WindowsConfig
from tests.agents.synthesis.test_model_outage import anchors as robot_anchors
from tests.conftest import WorkerProcess, start_worker_process, stop_worker_process
from tests.kafka_helpers import consume
from tests.streaming.test_windows import ListChangeLog

SECRET = b"team-a-secret"


def gui(i: int, session: str = "sess1", tenant: str | None = None, last: bool = False) -> GuiStep:
    return GuiStep(
        session_id=session,
        step_index=i,
        timestamp=100.0 + i,
        action=GuiAction(type="click", x=1, y=1),
        tenant=tenant,
        is_last=last,
    )


class Letters(DeadLetterSink):
    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []

    async def send(self, letter: DeadLetter) -> None:
        self.sent.append(letter)


class Collect(WindowCloser):
    def __init__(self) -> None:
        self.windows: list[ClosedWindow] = []

    async def close(self, window: ClosedWindow) -> None:
        self.windows.append(window)


def test_another_producer_cannot_reach_a_tenants_session(settings: TailorSettings, tmp_path: Path) -> None:
    """Through the real broker (headers as Kafka carries them) into the ingest stage and the windower: before,
    ids were one namespace, so a default-tenant step `sess1` #10 with is_last joined the tenant's session
    and made its step 3 a late_event."""
    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap)
    topic = settings.topic_raw_gui
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings, tenant_key=SECRET) as team:
        for i in range(3):
            team.send(gui(i, tenant="teamA"))
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as other:  # no key
        other.send(gui(10, last=True))  # the same session id, default tenant: its own window
        other.send(gui(5, tenant="teamA"))  # claims the tenant without its MAC
        other.send(gui(6, tenant="teamB"))  # a tenant this worker has no key for
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings, tenant_key=SECRET) as team:
        team.send(gui(3, tenant="teamA", last=True))
    consumer = KafkaConsumer(
        topic,
        **kafka_python_kwargs(settings, settings.kafka_bootstrap),
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
    )
    msgs = sorted(consumer, key=lambda m: m.offset)
    consumer.close()
    assert len(msgs) == 7

    spec = spec_for(settings, GuiStep)
    closer, letters = Collect(), Letters()
    metrics = TailorMetrics(CollectorRegistry())
    windower = Windower(
        GuiKeys(),
        WindowState({}, ListChangeLog()),
        closer,
        WindowsConfig(window_grace_s=0),
        BlobStore.for_dir(tmp_path / "blobs"),
        metrics,
    )
    tenancy = TenancyConfig(tenant_keys={"teamA": SecretStr(SECRET.decode())})
    stage = IngestStage(
        spec,
        checks_for(GuiStep, settings, BlobStore.for_dir(tmp_path / "blobs")),
        settings,
        metrics,
        letters,
        [windower],
        "t",
        tenancy,
    )

    async def run() -> None:
        for m in msgs:
            await stage.process(m.key, m.value, SourcePosition(m.topic, m.partition, m.offset), m.headers)
        await windower.drain()

    asyncio.run(run())
    assert sorted(d.reason for d in letters.sent) == ["tenant_unverified", "unknown_tenant"]
    by_key = {w.key: [s.step_index for s in w.records] for w in closer.windows}
    assert by_key == {"sess1": [10], "teamA~sess1": [0, 1, 2, 3]}
    assert [w.window_id for w in closer.windows if w.key.startswith("teamA")] == ["gui:teamA~sess1:0"]
    # without tenant keys a tenant is a namespace only; a worker may also refuse the default tenant
    open_stage = IngestStage(
        spec, [], settings, metrics, letters, [], "t", TenancyConfig(tenant_required=True)
    )
    with pytest.raises(RecordError) as err:
        open_stage._check_tenant(gui(0), gui(0).to_bytes(), None)
    assert err.value.reason == "tenant_missing"
    assert tenant_mac(SECRET, b"x") != tenant_mac(b"other", b"x")


def test_intents_are_capped_in_count_and_in_jobs_per_window(settings: TailorSettings) -> None:
    """Before, every intent on the topic was parsed and multiplied every window's synthesis jobs."""
    by_name = {f.name: f for f in families()}
    book = IntentBook(IntentParser(by_name, None, None), max_active=3)

    async def run() -> list[str]:
        reasons = []
        for i in range(6):
            intent = Intent(intent_id=f"i{i}", text="next subtask data from my robot", created_at=time.time())
            try:
                await book.apply(intent)
            except RecordError as exc:
                reasons.append(exc.reason)
        await book.apply(Intent(intent_id="i0", text="x", created_at=time.time(), active=False))  # retire one
        await book.apply(
            Intent(intent_id="i9", text="next subtask data from my robot", created_at=time.time())
        )
        return reasons

    assert asyncio.run(run()) == ["too_many_intents"] * 3
    assert sorted(book.intents) == ["i1", "i2", "i9"]

    metrics = TailorMetrics(CollectorRegistry())
    capped = settings.model_copy(update={"intents_max_jobs_per_window": 2})
    stage = SynthesisStage(capped, None, by_name, book, metrics, Letters(), None)  # type: ignore[arg-type]
    anchors: AnchorSet = robot_anchors()
    uncapped = SynthesisStage(settings, None, by_name, book, metrics, Letters(), None)  # type: ignore[arg-type]
    assert len(uncapped.jobs(anchors, ())) == 3  # one job per intent: the three want next_subtask
    jobs = stage.jobs(anchors, ())
    assert [ctx.spec.intent_id for _f, ctx in jobs] == ["i1", "i2"]  # the oldest intents' jobs stay
    assert metrics.stage_dropped.labels("synthesis", "intent_jobs_cap")._value.get() == 1


def test_a_live_worker_windows_each_tenant_apart(settings: TailorSettings, tmp_path: Path) -> None:
    """The same through `tailor up`: the Faust agent hands the Kafka headers to the tenant check."""
    assert settings.kafka_bootstrap
    live = settings.model_copy(update={"tenant_keys": {"teamA": SecretStr(SECRET.decode())}})
    worker: WorkerProcess = start_worker_process(live, tmp_path / "worker.log")
    try:
        with TailorProducer.connect(settings.kafka_bootstrap, settings, settings, tenant_key=SECRET) as team:
            for i in range(2):
                team.send(gui(i, tenant="teamA"))
        with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as other:
            other.send(gui(10, last=True))
            other.send(gui(5, tenant="teamA"))
        with TailorProducer.connect(settings.kafka_bootstrap, settings, settings, tenant_key=SECRET) as team:
            team.send(gui(2, tenant="teamA", last=True))
        anchors = consume(settings, settings.topic_anchors, count=2, timeout_s=90)
        windows = sorted(AnchorSet.from_bytes(m.value).window_id for m in anchors)
        assert windows == ["gui:sess1:0", "gui:teamA~sess1:0"]
        letters = [
            DeadLetter.from_bytes(m.value) for m in consume(settings, settings.topic_dlq, timeout_s=10)
        ]
        assert [d.reason for d in letters] == ["tenant_unverified"]
    finally:
        stop_worker_process(worker)
