"""The model store with real peft adapters: versions, hashes, refusal of tampered and pickle-format weights,
rollback, and an fsspec (memory://) root."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import uuid
from pathlib import Path

import pytest

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
