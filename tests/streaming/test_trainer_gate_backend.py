"""The gate evaluates candidates where the workers generate: the running vLLM server when there is one."""

from __future__ import annotations

import pytest

from streaming.settings import TailorSettings
from streaming.trainer_service import gate_backend


def test_auto_gate_uses_the_running_server_else_in_process(settings: TailorSettings) -> None:
    assert gate_backend(settings.model_copy(update={"vllm_url": None, "gate_backend": "auto"})) == "hf"
    served = settings.model_copy(update={"vllm_url": "http://127.0.0.1:8000", "gate_backend": "auto"})
    assert gate_backend(served) == "vllm"
    assert gate_backend(served.model_copy(update={"gate_backend": "hf"})) == "hf"


def test_vllm_gate_without_a_server_is_refused(settings: TailorSettings) -> None:
    with pytest.raises(ValueError, match="TAILOR_VLLM_URL"):
        gate_backend(settings.model_copy(update={"vllm_url": None, "gate_backend": "vllm"}))
