"""The backends the benchmark can run, each opened for one run and closed after it.

- `rules`: the heuristic-rules baseline (`RulesBackend`).
- `hf`: SmolLM2 in process (`HfBackend`), greedy, optionally with a LoRA adapter (the weights version).
- `vllm`: the OpenAI-compatible server (`VllmBackend`), greedy with JSON-schema structured output; a CPU
  server is started from `.venv-vllm` (`VllmServer`) unless a URL is given; a weights version is loaded
  into it at run time (`POST /v1/load_lora_adapter`) and answers under its own model name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from agents.synthesis.base import SynthesisBackend
from agents.synthesis.vllm_backend_config import auth_headers
from bench.quality_config import QualityBenchConfig
from core.errors import TailorError

log = logging.getLogger(__name__)

ADAPTER_FILE = "adapter_model.safetensors"


class BenchBackendError(TailorError, RuntimeError):
    """A labelled failure of this module (`reason`, `detail`)."""


@dataclass(frozen=True)
class WeightsVersion:
    """A LoRA adapter folder; its version is the folder name plus the adapter file's sha256 prefix."""

    path: Path
    sha256: str

    @classmethod
    def of(cls, path: Path) -> WeightsVersion:
        file = path / ADAPTER_FILE
        if not file.is_file():
            raise BenchBackendError("bad_weights", f"{path} holds no {ADAPTER_FILE}")
        digest = hashlib.sha256()
        with file.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
        return cls(path, digest.hexdigest())

    @property
    def version(self) -> str:
        return f"{self.path.name}@{self.sha256[:12]}"

    def rank(self) -> int:
        """The adapter's largest rank (its `r` or a larger per-module one); 16 when the config cannot be read."""
        try:
            config = json.loads((self.path / "adapter_config.json").read_text())
            return max([int(config["r"]), *(int(r) for r in (config.get("rank_pattern") or {}).values())])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return 16


class BenchBackend(ABC):
    name: ClassVar[str]

    def __init__(self, config: QualityBenchConfig) -> None:
        self.config = config

    @cached_property
    def weights(self) -> WeightsVersion | None:
        return WeightsVersion.of(self.config.weights) if self.config.weights is not None else None

    @abstractmethod
    def open(self, stack: ExitStack) -> SynthesisBackend:
        """The synthesis backend, with whatever it needs started (and registered on `stack` to stop)."""

    def describe(self) -> dict[str, Any]:
        return {
            "weights": str(self.weights.path) if self.weights else None,
            "weights_version": self.weights.version if self.weights else None,
        }


class RulesBench(BenchBackend):
    name = "rules"

    def open(self, stack: ExitStack) -> SynthesisBackend:
        from agents.synthesis.rules_backend import RulesBackend

        if self.weights is not None:
            raise BenchBackendError("bad_weights", "the rules backend has no weights")
        return RulesBackend()

    def describe(self) -> dict[str, Any]:
        return {"model": "rules", **super().describe()}


class HfBench(BenchBackend):
    name = "hf"

    def open(self, stack: ExitStack) -> SynthesisBackend:
        import torch

        from agents.synthesis.hf_backend import HfBackend
        from agents.synthesis.hf_backend_config import HfBackendConfig

        cfg = self.config
        if not (cfg.model_dir / "config.json").is_file():
            raise BenchBackendError(
                "model_missing", f"no model at {cfg.model_dir} (python -m agents.model_cache)"
            )
        torch.manual_seed(cfg.seed)
        backend = HfBackend(
            HfBackendConfig(
                model_dir=cfg.model_dir,
                max_new_tokens=cfg.max_new_tokens,
                temperature=cfg.temperature,
                threads=cfg.threads,
                adapter_dir=self.weights.path if self.weights else None,
            )
        )
        if self.weights is not None:
            backend.reload(self.weights.path, self.weights.version)
        return backend

    def describe(self) -> dict[str, Any]:
        return {"model": f"hf:{self.config.model_dir.name}", **super().describe()}


class VllmBench(BenchBackend):
    name = "vllm"

    def open(self, stack: ExitStack) -> SynthesisBackend:
        from agents.synthesis.vllm_backend import VllmBackend
        from agents.synthesis.vllm_backend_config import VllmBackendConfig
        from agents.vllm_server import VllmServer
        from agents.vllm_server_config import VllmServerConfig, lora_rank_slot
        from trainer.train_config import LoraSettings

        cfg = self.config
        # the server serves this one adapter (or none): its rank, not a larger default, as LoRA decoding on the
        # CPU backend costs by the server's max rank (docs/learning.md, "Gate")
        rank = lora_rank_slot(self.weights.rank() if self.weights else LoraSettings().rank)
        server = VllmServer(
            VllmServerConfig(
                url=cfg.vllm_url,
                model_dir=None if cfg.vllm_url else cfg.model_dir,
                venv=cfg.vllm_venv,
                served_model_name=cfg.vllm_model,
                start_timeout_s=cfg.vllm_start_timeout_s,
                max_lora_rank=rank,
            )
        )
        base = server.start()
        stack.callback(server.stop)
        backend = VllmBackend(
            VllmBackendConfig(
                url=base,
                model=cfg.vllm_model,
                concurrency=cfg.concurrency,
                max_tokens=cfg.max_new_tokens,
                temperature=cfg.temperature,
                request_timeout_s=cfg.request_timeout_s,
                api_key=cfg.vllm_api_key,
                loop_retry_penalty=cfg.loop_retry_penalty,
                loop_retries=cfg.loop_retries,
            )
        )
        if self.weights is not None:
            name = self.weights.version.replace("@", "-")
            load_adapter(base, name, self.weights.path, auth_headers(cfg.vllm_api_key))
            backend.use_model(name, self.weights.version)
        return backend

    def describe(self) -> dict[str, Any]:
        return {
            "model": f"vllm:{self.config.vllm_model}",
            "vllm_url": self.config.vllm_url,
            **super().describe(),
        }


def load_adapter(base_url: str, name: str, path: Path, headers: dict[str, str] | None = None) -> None:
    """POST the adapter to vLLM; `headers` carry the server's API key when it has one."""
    body = json.dumps({"lora_name": name, "lora_path": str(path.resolve())}).encode()
    request = urllib.request.Request(
        base_url.rstrip("/") + "/v1/load_lora_adapter",
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            if resp.status != 200:
                raise BenchBackendError("adapter_not_loaded", f"HTTP {resp.status}")
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300]
        if exc.code == 400 and b"already" in detail.lower():  # the same version evaluated again
            log.info("adapter %s is already loaded in %s", name, base_url)
            return
        raise BenchBackendError("adapter_not_loaded", f"HTTP {exc.code}: {detail!r}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise BenchBackendError("adapter_not_loaded", str(exc)) from None
    log.info("loaded adapter %s from %s into %s", name, path, base_url)


BACKENDS: dict[str, type[BenchBackend]] = {b.name: b for b in (RulesBench, HfBench, VllmBench)}


def bench_backend(name: str, config: QualityBenchConfig) -> BenchBackend:
    if name not in BACKENDS:
        raise BenchBackendError("bad_backend", f"backend must be one of {sorted(BACKENDS)}, got {name!r}")
    return BACKENDS[name](config)
