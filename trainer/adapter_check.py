"""What a LoRA adapter must be before a worker loads it: every `adapter_config.json` field that changes the
shapes or the set of weights, and the tensors of the safetensors header themselves.

A backend (vLLM with `--max-lora-rank`, transformers with the base model in memory) is started for one
base model and one kind of adapter; an adapter that adds whole modules (`modules_to_save`), DoRA
magnitudes, biases, a larger rank in a `rank_pattern`, or targets modules the server does not serve
would fail in the server or, worse, load with other shapes. Only the config fields that scale without
changing shapes (`lora_alpha`, `alpha_pattern`) are merely checked for sane values.
"""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path
from typing import Any

from trainer.reload_config import ReloadConfig
from trainer.weights import ADAPTER_CONFIG, ADAPTER_WEIGHTS, WeightsError

_TENSOR = re.compile(r"^(?P<module>.+)\.lora_(?P<ab>[AB])\.weight$")


def _fail(reason: str, adapter_dir: Path, detail: str) -> WeightsError:
    return WeightsError(reason, f"{adapter_dir.name}/{ADAPTER_CONFIG}: {detail}")


def _rank(value: Any, where: str, cfg: ReloadConfig, adapter_dir: Path) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _fail("bad_adapter_config", adapter_dir, f"{where} {value!r} is not a positive integer")
    if value > cfg.max_lora_rank:
        raise _fail("rank_too_large", adapter_dir, f"{where} {value} > {cfg.max_lora_rank}")
    return value


def _scale(value: Any, where: str, adapter_dir: Path) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise _fail("bad_adapter_config", adapter_dir, f"{where} {value!r} is not a positive number")


def adapter_config(adapter_dir: Path) -> dict[str, Any]:
    try:
        config = json.loads((adapter_dir / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _fail("bad_adapter_config", adapter_dir, str(exc)) from None
    if not isinstance(config, dict):
        raise _fail("bad_adapter_config", adapter_dir, "not a JSON object")
    return config


def check_adapter(adapter_dir: Path, base_model: str | None, cfg: ReloadConfig) -> int:
    """Raise WeightsError unless the adapter fits the backend; return its rank.

    `base_model`: the name of the base model folder the backend runs (None: not known, not compared)."""
    config = adapter_config(adapter_dir)
    if config.get("peft_type", "LORA") != "LORA":
        raise _fail("unsupported_adapter", adapter_dir, f"peft_type {config.get('peft_type')!r} is not LORA")
    rank = _rank(config.get("r"), "r", cfg, adapter_dir)
    ranks = config.get("rank_pattern") or {}
    if not isinstance(ranks, dict):
        raise _fail("bad_adapter_config", adapter_dir, "rank_pattern is not an object")
    for name, value in ranks.items():
        _rank(value, f"rank_pattern[{name!r}]", cfg, adapter_dir)
    _scale(config.get("lora_alpha"), "lora_alpha", adapter_dir)
    alphas = config.get("alpha_pattern") or {}
    if not isinstance(alphas, dict):
        raise _fail("bad_adapter_config", adapter_dir, "alpha_pattern is not an object")
    for name, value in alphas.items():
        _scale(value, f"alpha_pattern[{name!r}]", adapter_dir)
    for field, allowed in (("modules_to_save", (None, [])), ("use_dora", (None, False)), ("bias", ("none",))):
        if config.get(field, allowed[0]) not in allowed:
            raise _fail(
                "unsupported_adapter", adapter_dir, f"{field} {config.get(field)!r} adds weights or shapes"
            )
    targets = config.get("target_modules")
    if isinstance(targets, list):
        outside = sorted(str(t) for t in targets if t not in cfg.allowed_target_modules)
        if outside or not targets:
            raise _fail("unsupported_adapter", adapter_dir, f"target_modules {outside or targets} not served")
    elif not isinstance(targets, str):  # a regex: the tensors below say which modules it took
        raise _fail("bad_adapter_config", adapter_dir, f"target_modules {targets!r}")
    base = config.get("base_model_name_or_path")
    if base_model is not None and isinstance(base, str) and base and Path(base).name != base_model:
        raise _fail(
            "base_model_mismatch", adapter_dir, f"trained on {Path(base).name!r}, served {base_model!r}"
        )
    check_tensors(adapter_dir, rank, bool(ranks), cfg)
    return rank


def check_tensors(adapter_dir: Path, rank: int, patterned: bool, cfg: ReloadConfig) -> None:
    """Every tensor is a lora_A / lora_B of a served module, with the config's rank (any allowed rank where
    the config has a rank_pattern)."""
    path = adapter_dir / ADAPTER_WEIGHTS
    try:
        with path.open("rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(min(size, 100 << 20)))
    except (OSError, ValueError, struct.error) as exc:
        raise WeightsError("unsafe_format", f"{adapter_dir.name}/{ADAPTER_WEIGHTS}: {exc}") from None
    for name, info in header.items():
        if name == "__metadata__":
            continue
        m = _TENSOR.match(name)
        module = m.group("module").rsplit(".", 1)[-1] if m else ""
        shape = info.get("shape") if isinstance(info, dict) else None
        if m is None or module not in cfg.allowed_target_modules:
            raise WeightsError(
                "unsupported_adapter", f"{adapter_dir.name}: tensor {name[:200]} is not served"
            )
        if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(d, int) for d in shape)):
            raise WeightsError("bad_adapter_config", f"{adapter_dir.name}: tensor {name[:200]} shape {shape}")
        r = shape[0] if m.group("ab") == "A" else shape[1]
        if (r != rank and not patterned) or not 0 < r <= cfg.max_lora_rank:
            raise WeightsError(
                "rank_too_large" if r > cfg.max_lora_rank else "bad_adapter_config",
                f"{adapter_dir.name}: tensor {name[:200]} has rank {r}, the config says {rank}",
            )
