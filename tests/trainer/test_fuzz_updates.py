"""Fuzzed model updates (issue 20: the fuzzers did not reach the model-update path). A signed store holds
two real LoRA versions; the `ModelUpdate` records from the topic, the store's files (announcements,
manifests, signatures) and `adapter_config.json` are damaged at the byte and the JSON level. Every case
ends in the store's own announcement and verified weights, or a labelled refusal (WeightsError /
RecordError), never another exception and never weights the trainer did not sign."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.records import ModelUpdate, RecordError
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
