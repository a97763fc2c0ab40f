"""What a set of trained weights is, and the checks every reader of weights shares.

`WeightsRef` names weights the way evaluators and backends need them: the base model folder plus, for a
LoRA update, the adapter folder. Weights are safetensors only: `check_safetensors` reads a file's header
(8-byte little-endian length, then a JSON object) without loading tensors, and `unsafe_weight_files` lists
files in the pickle-based formats (`.bin`, `.pt`, ...) that are never loaded.
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

from core.errors import TailorError

log = logging.getLogger(__name__)

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
FULL_WEIGHTS = "model.safetensors"
FULL_CONFIG = "config.json"
# Pickle-based (or pickle-capable) weight formats: refused wherever they appear.
UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".npy", ".npz", ".joblib")
_MAX_HEADER_BYTES = 100 << 20


class WeightsError(TailorError, RuntimeError):
    """Weights that must not be used; `reason` is a short label (hash_mismatch, unsafe_format, ...)."""


@dataclass(frozen=True)
class WeightsRef:
    """Weights to evaluate or serve: `base_model_dir` alone, or with a LoRA `adapter_dir` on top.

    For a full fine-tune `base_model_dir` is the trained model folder and `adapter_dir` is None.
    """

    base_model_dir: Path
    adapter_dir: Path | None = None
    version: str | None = None  # None: the base model as cached

    @property
    def label(self) -> str:
        return self.version or "base"


def weights_file(kind: str) -> str:
    """The one weights file of an update of `kind` (lora: the adapter; full: the model)."""
    if kind == "lora":
        return ADAPTER_WEIGHTS
    if kind == "full":
        return FULL_WEIGHTS
    raise WeightsError("unknown_kind", f"weights kind {kind!r} is not lora or full")


def unsafe_weight_files(folder: Path) -> list[Path]:
    """Files under `folder` in a pickle-based format (never loaded)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in UNSAFE_SUFFIXES)


def check_safetensors(path: Path) -> int:
    """Raise WeightsError("unsafe_format") unless `path` starts like a safetensors file; return the tensor count."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise WeightsError("unsafe_format", f"{path.name} is too short to be safetensors")
            (size,) = struct.unpack("<Q", head)
            if size <= 1 or size > _MAX_HEADER_BYTES:
                raise WeightsError("unsafe_format", f"{path.name}: header length {size} is not safetensors")
            header = json.loads(fh.read(size).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, WeightsError):
            raise
        raise WeightsError("unsafe_format", f"{path.name}: not a safetensors file ({exc})") from None
    if not isinstance(header, dict):
        raise WeightsError("unsafe_format", f"{path.name}: safetensors header is not an object")
    return sum(1 for key in header if key != "__metadata__")
