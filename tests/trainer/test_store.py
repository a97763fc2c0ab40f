"""The model store with real peft adapters: versions, hashes, refusal of tampered and pickle-format weights,
rollback, and an fsspec (memory://) root."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from core.records import ModelUpdate
from trainer.adapter_check import check_adapter
from trainer.reload_config import ReloadConfig
from trainer.signing import UpdateKeys
from trainer.signing_config import SigningConfig
from trainer.store import ModelStore
from trainer.store_config import StoreConfig
from trainer.weights import ADAPTER_CONFIG, ADAPTER_WEIGHTS, WeightsError


def make_adapter(model_dir: Path, out: Path, seed: int) -> Path:
    """A real LoRA adapter on the tiny llama (random B so versions differ), saved the way training saves it."""
    import torch
    from peft import LoraConfig, get_peft_model

    from agents.model_cache import load_model

    model, _ = load_model(model_dir)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    torch.manual_seed(seed)
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            param.data.normal_()
    peft_model.save_pretrained(str(out), safe_serialization=True)
    (out / "README.md").unlink(missing_ok=True)
    return out


@pytest.fixture(scope="module")
def adapters(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("adapters")
    return [make_adapter(tiny_model_dir, root / f"a{i}", i) for i in range(2)]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_publish_versions_hashes_and_resolves_loadable_weights(
    adapters: list[Path], tmp_path: Path, tiny_model_dir: Path
) -> None:
    store = ModelStore(tmp_path / "store")
    assert store.current() is None and store.history() == []
    u1 = store.publish(adapters[0], "tiny", {"bench_after": 0.5}, ["e1", "e2"])
    u2 = store.publish(adapters[1], "tiny", {"bench_after": 0.6}, ["e3"])
    assert (u1.version, u2.version) == ("v1", "v2") and store.versions() == [1, 2]
    assert u1.sha256 == sha(adapters[0] / ADAPTER_WEIGHTS) != u2.sha256
    assert u1.uri.endswith("/v1/adapter_model.safetensors") and u1.uri.startswith("file://")
    assert u1.kind == "lora" and u1.trained_on == ["e1", "e2"] and u1.metrics == {"bench_after": 0.5}
    folder = store.resolve(u2)
    assert sorted(p.name for p in folder.iterdir()) == [ADAPTER_CONFIG, ADAPTER_WEIGHTS, "manifest.json"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["sha256"] == u2.sha256 and manifest["files"][ADAPTER_CONFIG] == sha(
        folder / ADAPTER_CONFIG
    )
    assert store.current() == u2 and store.history() == [u1, u2]

    from peft import PeftModel

    from agents.model_cache import load_model

    model, _ = load_model(tiny_model_dir)
    PeftModel.from_pretrained(model, str(folder))  # what the backends do with the resolved folder


def test_tampered_weights_are_refused(adapters: list[Path], tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "store")
    update = store.publish(adapters[0], "tiny", {}, [])
    weights = store.resolve(update) / ADAPTER_WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one flipped bit in the last tensor
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError) as err:
        store.resolve(update)
    assert err.value.reason == "hash_mismatch"
    # an update whose hash does not match the manifest is refused too
    other = store.publish(adapters[1], "tiny", {}, [])
    forged = other.model_copy(update={"sha256": update.sha256})
    with pytest.raises(WeightsError) as err:
        store.resolve(forged)
    assert err.value.reason == "hash_mismatch"


def test_pickle_format_files_are_refused(adapters: list[Path], tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "store")
    update = store.publish(adapters[0], "tiny", {}, [])
    folder = store.resolve(update)
    payload = pickle.dumps({"base_model.model.layers.0.q_proj.lora_A.weight": [0.0]})  # written, never loaded
    (folder / "adapter_model.bin").write_bytes(payload)
    with pytest.raises(WeightsError) as err:
        store.resolve(update)
    assert err.value.reason == "unsafe_format"
    (folder / "adapter_model.bin").unlink()
    store.resolve(update)
    # a pickle under the safetensors name: the hash and the format both give it away
    (folder / ADAPTER_WEIGHTS).write_bytes(payload)
    with pytest.raises(WeightsError) as err:
        store.resolve(update)
    assert err.value.reason == "hash_mismatch"
    # a file the manifest does not list
    shutil.copy2(adapters[1] / ADAPTER_WEIGHTS, folder / "extra.safetensors")
    with pytest.raises(WeightsError) as err:
        store.resolve(update)
    assert err.value.reason == "unexpected_file"


def test_publishing_refuses_pickle_and_non_safetensors_input(adapters: list[Path], tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "store")
    src = tmp_path / "src"
    shutil.copytree(adapters[0], src)
    (src / "training_args.bin").write_bytes(pickle.dumps({"lr": 1.0}))
    with pytest.raises(WeightsError) as err:
        store.publish(src, "tiny", {}, [])
    assert err.value.reason == "unsafe_format"
    (src / "training_args.bin").unlink()
    (src / ADAPTER_WEIGHTS).write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(WeightsError) as err:
        store.publish(src, "tiny", {}, [])
    assert err.value.reason == "unsafe_format"
    (src / ADAPTER_WEIGHTS).unlink()
    with pytest.raises(WeightsError) as err:
        store.publish(src, "tiny", {}, [])
    assert err.value.reason == "missing_file"
    assert store.versions() == [] and store.current() is None


def test_rollback_reannounces_an_earlier_version(adapters: list[Path], tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "store")
    u1 = store.publish(adapters[0], "tiny", {"bench_after": 0.5}, ["e1"])
    u2 = store.publish(adapters[1], "tiny", {"bench_after": 0.4}, ["e2"])
    back = store.rollback("v1")
    assert (back.version, back.rollback_of, back.sha256, back.uri) == ("v1", "v2", u1.sha256, u1.uri)
    assert back.trained_on == ["e1"] and back.created_at >= u2.created_at
    assert store.current() == back and [u.version for u in store.history()] == ["v1", "v2", "v1"]
    assert store.versions() == [1, 2]  # no weights were copied
    assert store.resolve(back) == store.resolve(u1)
    with pytest.raises(WeightsError) as err:
        store.rollback("v9")
    assert err.value.reason == "unknown_version"
    for bad in ("../v1", "v0", "latest"):
        with pytest.raises(WeightsError):
            store.rollback(bad)


def test_update_pointing_elsewhere_is_refused(adapters: list[Path], tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "store")
    update = store.publish(adapters[0], "tiny", {}, [])
    moved = update.model_copy(update={"uri": "file:///elsewhere/v1/adapter_model.safetensors"})
    with pytest.raises(WeightsError) as err:
        store.resolve(moved)
    assert err.value.reason == "uri_mismatch"


def test_fsspec_memory_store_downloads_and_verifies(adapters: list[Path], tmp_path: Path) -> None:
    import fsspec

    root = f"memory://tailor-test-{uuid.uuid4().hex[:8]}/models"
    store = ModelStore(root, StoreConfig(cache_dir=tmp_path / "cache"))
    u1 = store.publish(adapters[0], "tiny", {}, ["e1"])
    assert u1.uri.startswith("memory://") and u1.uri.endswith("/models/v1/adapter_model.safetensors")
    local = store.resolve(u1)
    assert local.is_relative_to(tmp_path / "cache") and sha(local / ADAPTER_WEIGHTS) == u1.sha256
    assert store.current() == u1
    # tamper with the remote copy: a fresh cache refuses it
    fs = fsspec.filesystem("memory")
    remote_root = store.fs()[1]
    remote = remote_root + "/v1/adapter_model.safetensors"
    data = bytearray(fs.cat_file(remote))
    data[-1] ^= 0x01
    fs.pipe_file(remote, bytes(data))
    fresh = ModelStore(root, StoreConfig(cache_dir=tmp_path / "cache2"))
    with pytest.raises(WeightsError) as err:
        fresh.resolve(u1)
    assert err.value.reason == "hash_mismatch"
    fs.pipe_file(remote_root + "/v1/adapter_model.bin", pickle.dumps(0))
    with pytest.raises(WeightsError) as err:
        ModelStore(root, StoreConfig(cache_dir=tmp_path / "cache3")).resolve(u1)
    assert err.value.reason == "unsafe_format"


@pytest.fixture(scope="module")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from trainer.signing import write_keypair

    return write_keypair(tmp_path_factory.mktemp("keys"))


def keys(signing: Path | None = None, verify: Path | None = None) -> UpdateKeys:
    return UpdateKeys.from_config(SigningConfig(model_signing_key_file=signing, model_verify_key_file=verify))


def test_signed_manifests_and_announcements_verify_and_forgeries_are_refused(
    adapters: list[Path], tmp_path: Path, key_files: tuple[Path, Path]
) -> None:
    """Issue 20 item 6: whoever could write the store (or the topic) could swap in consistent weights and
    manifest hashes, and a record's own created_at ordered the updates. Now the trainer signs each manifest
    and announcement (Ed25519) and a worker with the public key refuses what is unsigned or badly signed,
    and takes the store's announcement of the update's `seq` as the truth."""
    private, public = key_files
    trainer = ModelStore(tmp_path / "store", keys=keys(signing=private))
    worker = ModelStore(tmp_path / "store", keys=keys(verify=public))
    u1 = trainer.publish(adapters[0], "tiny", {}, ["e1"])
    u2 = trainer.publish(adapters[1], "tiny", {}, ["e2"])
    assert (u1.seq, u2.seq) == (1, 2)
    assert worker.announced(u2) == u2 and worker.resolve(worker.announced(u2)).is_dir()
    assert sorted(p.name for p in (tmp_path / "store" / "v1").iterdir()) == [
        ADAPTER_CONFIG,
        ADAPTER_WEIGHTS,
        "manifest.json",
        "manifest.json.sig",
    ]

    def refused(fn: Any, update: ModelUpdate) -> str:
        with pytest.raises(WeightsError) as err:
            fn(update)
        return err.value.reason

    # the topic cannot alter or reorder: a record must be the store's announcement of its seq
    pinned = u1.model_copy(update={"created_at": u1.created_at + 1e6})
    assert refused(worker.announced, pinned) == "announcement_mismatch"
    assert refused(worker.announced, u1.model_copy(update={"seq": 2})) == "announcement_mismatch"
    assert refused(worker.announced, u1.model_copy(update={"seq": 99})) == "unknown_update"
    assert refused(worker.announced, u1.model_copy(update={"seq": None})) == "unsigned_update"

    # consistent forgery of weights and manifest (what hashes alone accept): the signature refuses it
    folder = tmp_path / "store" / "v2"
    shutil.copy2(adapters[0] / ADAPTER_WEIGHTS, folder / ADAPTER_WEIGHTS)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["sha256"] = manifest["files"][ADAPTER_WEIGHTS] = sha(folder / ADAPTER_WEIGHTS)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    forged = u2.model_copy(update={"sha256": manifest["sha256"]})
    assert ModelStore(tmp_path / "store").resolve(forged).is_dir()  # no key: hashes alone pass it
    assert refused(worker.resolve, forged) == "bad_signature"
    (folder / "manifest.json.sig").unlink()
    assert refused(worker.resolve, forged) == "unsigned_update"
    # an announcement rewritten in the store
    ann = tmp_path / "store" / "updates" / "00000001.json"
    ann.write_bytes(pinned.model_copy(update={"seq": 1}).to_bytes())
    assert refused(worker.announced, pinned.model_copy(update={"seq": 1})) == "bad_signature"

    # a store written without a key: every update is unsigned for a worker that holds one
    plain = ModelStore(tmp_path / "plain")
    u = plain.publish(adapters[0], "tiny", {}, [])
    strict = ModelStore(tmp_path / "plain", keys=keys(verify=public))
    assert refused(strict.announced, u) == "unsigned_update"
    assert refused(strict.resolve, u) == "unsigned_update"
    assert plain.rollback("v1").seq == 2  # without keys the store works as before, with sequences


def test_adapter_fields_that_change_shapes_are_all_checked(adapters: list[Path], tmp_path: Path) -> None:
    """Issue 20 item 6: only `r` was checked; modules_to_save, DoRA, bias, target modules, rank patterns and
    the base model change the weights a backend must load, and the tensors must agree with the config."""
    cfg = ReloadConfig()
    assert check_adapter(adapters[0], None, cfg) == 4

    def variant(**fields: Any) -> str:
        folder = tmp_path / uuid.uuid4().hex
        shutil.copytree(adapters[0], folder)
        config = json.loads((folder / ADAPTER_CONFIG).read_text())
        config.update(fields)
        (folder / ADAPTER_CONFIG).write_text(json.dumps(config))
        with pytest.raises(WeightsError) as err:
            check_adapter(folder, None, cfg)
        return err.value.reason

    assert variant(r=64) == "rank_too_large"
    assert variant(r=8) == "bad_adapter_config"  # the tensors have rank 4
    assert variant(rank_pattern={"q_proj": 64}) == "rank_too_large"
    assert variant(modules_to_save=["lm_head"]) == "unsupported_adapter"
    assert variant(use_dora=True) == "unsupported_adapter"
    assert variant(bias="all") == "unsupported_adapter"
    assert variant(target_modules=["q_proj", "embed_tokens"]) == "unsupported_adapter"
    assert variant(lora_alpha=float("nan")) == "bad_adapter_config"
    assert variant(peft_type="PREFIX_TUNING") == "unsupported_adapter"
    config = json.loads((adapters[0] / ADAPTER_CONFIG).read_text())
    trained_on = Path(config["base_model_name_or_path"]).name
    assert check_adapter(adapters[0], trained_on, cfg) == 4
    with pytest.raises(WeightsError) as err:
        check_adapter(adapters[0], "another-model", cfg)
    assert err.value.reason == "base_model_mismatch"
    # a regex target_modules (vision adapters) is judged by the tensors it produced
    regex = tmp_path / "regex"
    shutil.copytree(adapters[0], regex)
    (regex / ADAPTER_CONFIG).write_text(json.dumps({**config, "target_modules": r".*\.(q_proj|v_proj)"}))
    assert check_adapter(regex, None, cfg) == 4
    with pytest.raises(WeightsError) as err:
        check_adapter(regex, None, ReloadConfig(allowed_target_modules=("q_proj", "k_proj")))
    assert err.value.reason == "unsupported_adapter" and "v_proj" in err.value.detail
