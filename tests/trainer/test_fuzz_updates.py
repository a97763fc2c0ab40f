"""Fuzzed model updates (issue 20: the fuzzers did not reach the model-update path). A signed store holds
two real LoRA versions; the `ModelUpdate` records from the topic, the store's files (announcements,
manifests, signatures) and `adapter_config.json` are damaged at the byte and the JSON level. Every case
ends in the store's own announcement and verified weights, or a labelled refusal (WeightsError /
RecordError), never another exception and never weights the trainer did not sign."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from agents.synthesis.hf_backend import HfBackend
from agents.synthesis.hf_backend_config import HfBackendConfig
from core.dlq import SourcePosition
from core.metrics import TailorMetrics
from core.records import ModelUpdate, RecordError
from streaming.reload_stage import Reloads, newest_first
from streaming.settings import load_settings
from tests.streaming.fuzz_strategies import RECORD_REASONS, damaged, json_mutated, json_values
from tests.trainer.test_store import make_adapter
from trainer.adapter_check import check_adapter
from trainer.reload_config import ReloadConfig
from trainer.signing import UpdateKeys, write_keypair
from trainer.signing_config import SigningConfig
from trainer.store import ModelStore
from trainer.weights import ADAPTER_CONFIG, WeightsError

REFUSALS = frozenset(
    {
        "announcement_mismatch",
        "bad_adapter_config",
        "bad_manifest",
        "bad_signature",
        "base_model_mismatch",
        "file_too_large",
        "hash_mismatch",
        "missing_file",
        "rank_too_large",
        "too_many_files",
        "unexpected_file",
        "unknown_kind",
        "unknown_update",
        "unknown_version",
        "unsafe_format",
        "unsigned_update",
        "unsupported_adapter",
        "uri_mismatch",
    }
)
UPDATES = settings(
    max_examples=40,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Signed:
    """A store written by a trainer with a signing key, read by a worker with the public key."""

    def __init__(self, root: Path, adapters: list[Path], keys_dir: Path) -> None:
        private, public = write_keypair(keys_dir)
        self.root = root
        trainer = ModelStore(root, keys=self.keys(signing=private))
        self.updates = [trainer.publish(a, "tiny", {}, [f"e{i}"]) for i, a in enumerate(adapters)]
        self.verify = public

    @staticmethod
    def keys(signing: Path | None = None, verify: Path | None = None) -> UpdateKeys:
        return UpdateKeys.from_config(
            SigningConfig(model_signing_key_file=signing, model_verify_key_file=verify)
        )

    def worker(self, root: Path | None = None) -> ModelStore:
        return ModelStore(root or self.root, keys=self.keys(verify=self.verify))

    def __repr__(self) -> str:
        return f"Signed({self.root})"


@pytest.fixture(scope="module")
def signed(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Signed:
    root = tmp_path_factory.mktemp("fuzz-updates")
    adapter = make_adapter(tiny_model_dir, root / "a0", 0)
    return Signed(root / "store", [adapter, adapter], root / "keys")  # two versions (same weights)


def take(store: ModelStore, update: ModelUpdate) -> str:
    """What a worker does with an update from the topic, up to the backend: 'ok' or the refusal's label."""
    try:
        announced = store.announced(update)
        check_adapter(store.resolve(announced), None, ReloadConfig())
    except WeightsError as exc:
        assert exc.reason in REFUSALS, (exc.reason, exc.detail)
        return exc.reason
    return "ok"


def test_the_signed_updates_are_taken(signed: Signed) -> None:
    assert [take(signed.worker(), u) for u in signed.updates] == ["ok", "ok"]


@UPDATES
@given(data=st.data())
def test_damaged_update_records_are_the_store_announcement_or_refused(
    data: st.DataObject, signed: Signed
) -> None:
    genuine = data.draw(st.sampled_from(signed.updates))
    raw = data.draw(st.one_of(json_mutated(genuine), damaged(genuine.to_bytes())))
    try:
        update = ModelUpdate.from_bytes(raw)
    except RecordError as exc:
        assert exc.reason in RECORD_REASONS, (exc.reason, exc.detail)
        return
    outcome = take(signed.worker(), update)
    if outcome == "ok":  # only a record equal to what the trainer announced and signed is taken
        assert update in signed.updates, update


@UPDATES
@given(data=st.data())
def test_damaged_store_files_are_refused(data: st.DataObject, signed: Signed) -> None:
    """Whoever can write the store (not the trainer's key) rewrites one of its small files."""
    update = data.draw(st.sampled_from(signed.updates))
    folder = f"v{update.seq}"
    name = data.draw(
        st.sampled_from(
            [
                f"updates/{update.seq:08d}.json",
                f"updates/{update.seq:08d}.json.sig",
                f"{folder}/manifest.json",
                f"{folder}/manifest.json.sig",
                f"{folder}/{ADAPTER_CONFIG}",
            ]
        )
    )
    target = signed.root / name  # damaged in place (updates name their files by URI), then restored
    original = target.read_bytes()
    changed = data.draw(damaged(original))
    try:
        target.write_bytes(changed)
        outcome = take(signed.worker(), update)
    finally:
        target.write_bytes(original)
    assert outcome != "ok" or changed == original, (name, outcome)


@UPDATES
@given(data=st.data())
def test_any_adapter_config_is_checked_or_refused(
    data: st.DataObject, signed: Signed, tmp_path: Path
) -> None:
    """`adapter_config.json` fields with any JSON value (a store without keys, or a trainer's own bug)."""
    source = signed.root / f"v{signed.updates[0].seq}"
    folder = tmp_path / uuid.uuid4().hex
    shutil.copytree(source, folder)
    config = json.loads((folder / ADAPTER_CONFIG).read_text())
    field = data.draw(st.sampled_from(sorted(config)))
    config[field] = data.draw(json_values)
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config))
    try:
        rank = check_adapter(folder, None, ReloadConfig())
    except WeightsError as exc:
        assert exc.reason in REFUSALS, (field, exc.reason, exc.detail)
        return
    assert rank == 4, (field, config[field])  # what it accepts still matches the tensors


class Refusals:
    """The synthesis stage's failure path as `Reloads` uses it: labelled refusals, and anything else."""

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.unexpected: list[str] = []

    async def fail(self, reason: str, detail: str, source: Any, *, stage: str | None = None) -> None:
        self.reasons.append(reason)

    async def failed(self, exc: BaseException, source: Any, **_kw: Any) -> None:
        self.unexpected.append(repr(exc))


@pytest.fixture(scope="module")
def hf_backend(tiny_model_dir: Path) -> HfBackend:
    return HfBackend(HfBackendConfig(model_dir=tiny_model_dir, max_new_tokens=1))


def forgeries(signed: Signed) -> st.SearchStrategy[ModelUpdate]:
    """What whoever can write the topic (not the store, not the key) may send: genuine updates in any order
    and repeated (replays), and genuine ones changed: a future created_at, another seq, no seq, another
    hash, another version name, another kind."""
    genuine = st.sampled_from(signed.updates)
    far = 4_102_444_800.0  # 2100-01-01
    changes = st.sampled_from(
        [
            {"created_at": far},
            {"seq": None, "created_at": far},
            {"seq": 10**6, "created_at": far},
            {"seq": 1},
            {"seq": 2},
            {"sha256": "0" * 64},
            {"version": "v999"},
            {"rollback_of": "v1"},
            {"kind": "full"},
        ]
    )
    forged = st.builds(lambda u, c: u.model_copy(update=c), genuine, changes)
    return st.one_of(genuine, forged)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_update_sequences_apply_only_signed_updates_in_store_order(
    data: st.DataObject, signed: Signed, hf_backend: HfBackend, tmp_path: Path
) -> None:
    """Any sequence of updates from the topic through the worker's `Reloads` (verify key set, a real HF
    backend on a tiny model): an update is applied only when it is the store's signed announcement and newer
    in the store's order than the one in use; every other one is refused with a label; created_at never
    decides, so a replayed older version or a far-future forgery cannot pin the weights."""
    sequence = data.draw(st.lists(forgeries(signed), min_size=1, max_size=6))
    settings_ = load_settings(
        data_dir=tmp_path / uuid.uuid4().hex,
        model_store_uri=str(signed.root),
        model_verify_key_file=signed.verify,
        synth_backend="rules",
    )
    refusals = Refusals()
    reloads = Reloads(settings_, hf_backend, TailorMetrics(CollectorRegistry()), refusals)  # type: ignore[arg-type]

    async def run() -> list[tuple[bool, str | None]]:
        out = []
        for i, update in enumerate(sequence):
            ok = await reloads.apply(update, SourcePosition("updates", 0, i), update.to_bytes())
            out.append((ok, hf_backend.weights_version))
        return out

    hf_backend.reload(None, None)  # the module's backend starts each case on its base weights
    steps = asyncio.run(run())
    taken = [ok for ok, _v in steps]
    assert refusals.unexpected == []  # every refusal is labelled
    for reason in set(refusals.reasons):
        event(reason)
    assert len(refusals.reasons) == taken.count(False)
    assert set(refusals.reasons) <= REFUSALS | {"stale_update", "unsupported_kind"}, refusals.reasons
    in_use = 0
    version = None
    for update, (ok, in_backend) in zip(sequence, steps, strict=True):
        expected = update in signed.updates and (update.seq or 0) > in_use
        assert ok == expected, (update, ok)
        if ok:
            in_use, version = update.seq or 0, update.version
        assert in_backend == version  # a refused update leaves the weights in use
    newest = max((u.seq or 0 for u, ok in zip(sequence, taken, strict=True) if ok), default=None)
    assert reloads.seq == newest


@given(
    backlog=st.lists(
        st.tuples(st.one_of(st.none(), st.integers(1, 50)), st.floats(0, 5e9, allow_nan=False)), max_size=12
    )
)
def test_catch_up_order_is_the_store_sequence_never_the_clock(
    backlog: list[tuple[int | None, float]],
) -> None:
    """After catching up, updates are tried newest first by the store's sequence; an unsequenced update (a
    trainer from before sequences) comes after every sequenced one whatever its created_at."""
    items = [
        (
            ModelUpdate(
                version=f"v{i}", kind="lora", base_model="b", uri="u", sha256="0" * 64, created_at=at, seq=seq
            ),
            SourcePosition("updates", 0, i),
            None,
        )
        for i, (seq, at) in enumerate(backlog)
    ]
    order = [u for u, _p, _r in newest_first(items)]
    seqs = [u.seq or 0 for u in order]
    assert seqs == sorted(seqs, reverse=True)
    for a, b in zip(order, order[1:], strict=False):
        if (a.seq or 0) == (b.seq or 0):
            assert (
                a.created_at >= b.created_at
            )  # the clock only breaks ties among unsequenced (or equal) ones
