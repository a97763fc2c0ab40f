"""Build the configured synthesis backend; start the embedded CPU vLLM server when no URL is set."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from agents.intents import FamilyChooser
from agents.synthesis.base import SynthesisBackend
from agents.synthesis.synthesis_config import SynthesisConfig

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


def open_backend(cfg: SynthesisConfig, intent_timeout_s: float = 30.0, use_model_for_intents: bool = True) -> BackendHandle:
    if cfg.synth_backend == "rules":
        from agents.synthesis.rules_backend import RulesBackend

        return BackendHandle(RulesBackend(cfg.synth_concurrency), None)
    if cfg.synth_backend == "hf":
        from agents.synthesis.hf_backend import HfBackend
        from agents.synthesis.hf_backend_config import HfBackendConfig

        return BackendHandle(HfBackend(HfBackendConfig(
            model_dir=cfg.model_dir, max_new_tokens=cfg.synth_max_tokens, temperature=cfg.synth_temperature,
            dtype=cfg.model_dtype)), None)
    from agents.synthesis.vllm_backend import VllmBackend, VllmFamilyChooser
    from agents.synthesis.vllm_backend_config import VllmBackendConfig

    server = None
    url = cfg.vllm_url
    if url is None:
        from agents.vllm_server import VllmServer
        from agents.vllm_server_config import VllmServerConfig

        server = VllmServer(VllmServerConfig(venv=cfg.vllm_venv, model_dir=cfg.model_dir,
                                             served_model_name=cfg.vllm_model, dtype=cfg.model_dtype,
                                             start_timeout_s=cfg.vllm_start_timeout_s,
                                             start_quiet_s=cfg.vllm_start_quiet_s))
        url = server.start()
        log.info("started vLLM on %s", url)
    backend = VllmBackend(VllmBackendConfig(
        url=url, model=cfg.vllm_model, concurrency=cfg.synth_concurrency, max_tokens=cfg.synth_max_tokens,
        temperature=cfg.synth_temperature, request_timeout_s=cfg.synth_request_timeout_s, retries=cfg.synth_retries,
        send_images=cfg.vllm_vision, seeded_sampling=cfg.synth_seeded_sampling,
        frequency_penalty=cfg.synth_frequency_penalty))
    chooser = VllmFamilyChooser(backend, intent_timeout_s) if use_model_for_intents else None
    return BackendHandle(backend, chooser, server)
