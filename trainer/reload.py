"""Hot reload: a published `ModelUpdate` → verified weights → a running synthesis backend takes them up.

`apply_update` takes the store's own announcement of the update (its signature checked when a verify key is
set), resolves it through the store (which verifies the manifest's signature, every hash and refuses
pickle-format files), checks every adapter field that changes shapes (trainer/adapter_check.py), then hands
the local folder to the backend's reloader:

- `HfBackend`: `backend.reload(adapter_dir, version)`; the next generation loads base + adapter.
- `VllmBackend`: `POST {url}/v1/load_lora_adapter {"lora_name": version, "lora_path": dir}` on every replica
  (skipped where the server already lists that name, e.g. on a rollback), then, once all of them list it,
  `backend.use_model(version, version, dir)` so requests name the adapter. The servers must see `dir` (same
  machine or shared filesystem).

Only LoRA updates are hot-reloaded (a full fine-tune is a new model for a new server).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import httpx

from agents.synthesis.base import SynthesisBackend
from agents.synthesis.hf_backend import HfBackend
from agents.synthesis.vllm_backend import VllmBackend
from agents.synthesis.vllm_backend_config import auth_headers
from core.records import ModelUpdate
from trainer.adapter_check import check_adapter
from trainer.reload_config import ReloadConfig
from trainer.store import ModelStore
from trainer.weights import WeightsError

log = logging.getLogger(__name__)


class Reloader(ABC):
    """Makes one kind of backend take up a verified adapter folder."""

    backend_type: ClassVar[type[SynthesisBackend]]

    def __init__(self, config: ReloadConfig | None = None) -> None:
        self.config = config or ReloadConfig()

    @abstractmethod
    def apply(self, backend: Any, adapter_dir: Path, update: ModelUpdate) -> None:
        """Switch `backend` to the adapter in `adapter_dir` as `update.version`."""


class HfReloader(Reloader):
    backend_type = HfBackend

    def apply(self, backend: Any, adapter_dir: Path, update: ModelUpdate) -> None:
        backend.reload(adapter_dir, update.version)


class VllmReloader(Reloader):
    """Loads the adapter on every replica of the backend (`VllmBackendConfig.urls`); the backend switches to it
    only when all of them list it, so no request names an adapter a replica lacks. A replica that refuses or is
    away fails the whole reload (the worker keeps the weights it had, the update is dead-lettered)."""

    backend_type = VllmBackend

    def apply(self, backend: Any, adapter_dir: Path, update: ModelUpdate) -> None:
        timeout = httpx.Timeout(self.config.request_timeout_s, connect=5.0)
        # the same key as the backend's requests: a server with --api-key refuses adapter loads without it
        headers = auth_headers(backend.config.api_key)
        with ThreadPoolExecutor(max_workers=len(backend.config.urls)) as pool:
            errors = [
                e
                for e in pool.map(
                    lambda url: self._load(url, timeout, headers, adapter_dir, update), backend.config.urls
                )
                if e
            ]
        if errors:
            raise WeightsError("reload_failed", "; ".join(errors))
        backend.use_model(update.version, update.version, str(adapter_dir))

    def _load(
        self,
        url: str,
        timeout: httpx.Timeout,
        headers: dict[str, str],
        adapter_dir: Path,
        update: ModelUpdate,
    ) -> str | None:
        """Load on one server; the error text, or None when it lists the adapter."""
        base = url.rstrip("/")
        try:
            with httpx.Client(base_url=base, timeout=timeout, headers=headers) as client:
                if update.version not in served_models(client):
                    resp = client.post(
                        "/v1/load_lora_adapter",
                        json={"lora_name": update.version, "lora_path": str(adapter_dir)},
                    )
                    if resp.status_code != 200:
                        return f"vLLM at {base} refused {update.version}: HTTP {resp.status_code} {resp.text[:300]}"
                if update.version not in served_models(client):
                    return f"vLLM at {base} does not list {update.version} after loading it"
        except httpx.HTTPError as exc:
            return f"vLLM at {base}: {type(exc).__name__}: {exc}"
        return None


def served_models(client: httpx.Client) -> set[str]:
    resp = client.get("/v1/models")
    resp.raise_for_status()
    return {str(m.get("id")) for m in resp.json().get("data", []) if isinstance(m, dict)}


RELOADERS: tuple[type[Reloader], ...] = (HfReloader, VllmReloader)


def backend_base_model(backend: SynthesisBackend) -> str | None:
    """The folder name of the base model a backend runs, where it says (transformers); None otherwise."""
    model_dir = getattr(getattr(backend, "config", None), "model_dir", None)
    return model_dir.name if isinstance(model_dir, Path) else None


def apply_update(
    update: ModelUpdate, store: ModelStore, backend: SynthesisBackend, config: ReloadConfig | None = None
) -> Path:
    """Verify `update` in `store` and hot-reload it into `backend`; return the adapter folder used."""
    cfg = config or ReloadConfig()
    if update.kind != "lora":
        raise WeightsError(
            "unsupported_kind", f"{update.version} is a {update.kind} update; only LoRA hot-reloads"
        )
    reloader = next((r(cfg) for r in RELOADERS if isinstance(backend, r.backend_type)), None)
    if reloader is None:
        raise WeightsError("unsupported_backend", f"backend {type(backend).__name__} cannot take weights")
    update = store.announced(update)  # the store's own (signed) announcement, not the topic's word
    adapter_dir = store.resolve(update)
    check_adapter(adapter_dir, backend_base_model(backend), cfg)
    reloader.apply(backend, adapter_dir, update)
    log.info("backend %s now uses %s (%s)", backend.name, update.version, adapter_dir)
    return adapter_dir
