"""Build the configured synthesis backend; start the embedded CPU vLLM server when no URL is set. A name
that is not built in is a plug-in of the `tailor.synthesis_backends` entry-point group (docs/extending.md)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agents.intents import FamilyChooser
from agents.synthesis.base import SynthesisBackend
from agents.synthesis.synthesis_config import BUILTIN_BACKENDS, SynthesisConfig
from core import plugins

if TYPE_CHECKING:
    from agents.synthesis.vllm_backend import VllmBackend

log = logging.getLogger(__name__)


@dataclass
class BackendHandle:
    backend: SynthesisBackend
    chooser: FamilyChooser | None
    server: Any = None  # a started VllmServer we own

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def open_backend(
    cfg: SynthesisConfig, intent_timeout_s: float = 30.0, use_model_for_intents: bool = True
) -> BackendHandle:
    if cfg.synth_backend not in BUILTIN_BACKENDS:
        return BackendHandle(plugin_backend(cfg), None)
    if cfg.synth_backend == "rules":
        from agents.synthesis.rules_backend import RulesBackend

        return BackendHandle(RulesBackend(cfg.synth_concurrency), None)
    if cfg.synth_backend == "hf":
        from agents.synthesis.hf_backend import HfBackend
        from agents.synthesis.hf_backend_config import HfBackendConfig

        return BackendHandle(
            HfBackend(
                HfBackendConfig(
                    model_dir=cfg.model_dir,
                    max_new_tokens=cfg.synth_max_tokens,
                    temperature=cfg.synth_temperature,
                    dtype=cfg.model_dtype,
                )
            ),
            None,
        )
    from agents.synthesis.vllm_backend import VllmFamilyChooser

    server = None
    url = cfg.vllm_url
    if url is None:
        from agents.vllm_server import VllmServer
        from agents.vllm_server_config import VllmServerConfig

        server = VllmServer(
            VllmServerConfig(
                venv=cfg.vllm_venv,
                model_dir=cfg.model_dir,
                served_model_name=cfg.vllm_model,
                dtype=cfg.model_dtype,
                start_timeout_s=cfg.vllm_start_timeout_s,
                start_quiet_s=cfg.vllm_start_quiet_s,
            )
        )
        url = server.start()
        log.info("started vLLM on %s", url)
    backend = vllm_backend(cfg, url, own_server=server is not None)
    chooser = VllmFamilyChooser(backend, intent_timeout_s) if use_model_for_intents else None
    return BackendHandle(backend, chooser, server)


def vllm_backend(cfg: SynthesisConfig, url: str, own_server: bool = False) -> VllmBackend:
    """The vLLM backend of these settings on `url` (the worker's, and the CLI's intent preview's)."""
    from agents.synthesis.vllm_backend import VllmBackend
    from agents.synthesis.vllm_backend_config import VllmBackendConfig

    return VllmBackend(
        VllmBackendConfig(
            url=url,
            replica_urls=[] if own_server else cfg.vllm_replica_urls,  # its own server is the only replica
            replica_cooldown_s=cfg.vllm_replica_cooldown_s,
            model=cfg.vllm_model,
            api_key=cfg.vllm_api_key,
            concurrency=cfg.synth_concurrency,
            max_tokens=cfg.synth_max_tokens,
            temperature=cfg.synth_temperature,
            request_timeout_s=cfg.synth_request_timeout_s,
            retries=cfg.synth_retries,
            send_images=cfg.vllm_vision,
            model_dir=cfg.model_dir if own_server else None,
            seeded_sampling=cfg.synth_seeded_sampling,
            frequency_penalty=cfg.synth_frequency_penalty,
            loop_retry_penalty=cfg.synth_loop_retry_penalty,
            loop_retries=cfg.synth_loop_retries,
        )
    )


def plugin_backend(cfg: SynthesisConfig) -> SynthesisBackend:
    """The plug-in named `cfg.synth_backend`: a SynthesisBackend subclass is made like the built-in rules,
    `cls(cfg.synth_concurrency)`; a function is called with the whole `SynthesisConfig`."""
    found = plugins.load(
        plugins.SYNTHESIS_BACKENDS,
        BUILTIN_BACKENDS,
        plugins.class_or_function(SynthesisBackend),
        "a SynthesisBackend subclass or a function of the SynthesisConfig returning one",
    )
    for other in found:  # every installed backend's class is checked now, not only the one chosen
        if isinstance(other.obj, type):
            plugins.same_name(other, getattr(other.obj, "name", None))
    by_name = {p.name: p for p in found}
    p = by_name.get(cfg.synth_backend)
    if p is None:
        raise ValueError(
            f"unknown synthesis backend {cfg.synth_backend!r}; available: "
            f"{', '.join([*BUILTIN_BACKENDS, *by_name])}"
        )
    arg = cfg.synth_concurrency if isinstance(p.obj, type) else cfg
    backend: SynthesisBackend = plugins.build(p, SynthesisBackend, arg)
    plugins.same_name(p, getattr(backend, "name", None))
    log.info("synthesis backend %s from %s", p.name, p.dist)
    return backend
