"""`tailor bench synth`: the same model and the same prompts through the vLLM server (concurrent
requests, continuous batching) and through in-process transformers generation (sequential), in one
run. Reports examples/s of each, their ratio, and the JSON-valid rate of each."""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

from agents.compute_dtype import resolve_dtype
from agents.synthesis.base import SynthesisBackend, SynthesisJob
from agents.tasks.base import ParseError
from agents.tasks.catalog import families
from bench.synth_config import BenchSynthConfig


def _all_jobs(config: BenchSynthConfig, split: str) -> list[SynthesisJob]:
    from bench.scoring import context
    from bench.store import load_cases

    by_name = {f.name: f for f in families()}
    cases = [c for c in load_cases(config.cases_dir, split) if c.family in by_name]
    if config.images:
        from bench.synth_images import CaseImages

        images = CaseImages(config.images, config.image_max_side)
        return [SynthesisJob(by_name[c.family], context(c), config.candidates, images(c)) for c in cases]
    return [SynthesisJob(by_name[c.family], context(c), n=config.candidates) for c in cases]


def bench_jobs(config: BenchSynthConfig, split: str | None = None) -> list[SynthesisJob]:
    jobs = _all_jobs(config, split or config.split)
    while len(jobs) < config.jobs and jobs:
        jobs += jobs[: config.jobs - len(jobs)]
    return jobs[: config.jobs]


async def _run(
    backend: SynthesisBackend, jobs: list[SynthesisJob], concurrent: bool
) -> tuple[float, list[str], list[SynthesisJob]]:
    started = time.perf_counter()
    if concurrent:
        gens = await asyncio.gather(*(backend.synthesize(j) for j in jobs))
    else:
        gens = [await backend.synthesize(j) for j in jobs]
    # each job's n candidates; a cut one asked for again is in its place, its cut text (kept after the n for
    # preference pairs, agents.synthesis.vllm_backend) is not a candidate of its own here
    texts = [text for g, j in zip(gens, jobs, strict=True) for text in g.texts[: j.n]]
    return time.perf_counter() - started, texts, jobs


def warmup_jobs(config: BenchSynthConfig) -> list[SynthesisJob]:
    """One job per task family from the other split: loads the model and compiles each family's output
    grammar once (a long-running server's one-time cost) without warming the prefix cache with the timed
    prompts themselves."""
    other = "dev" if config.split == "heldout" else "heldout"
    seen: dict[str, SynthesisJob] = {}
    for job in _all_jobs(config, other):
        seen.setdefault(job.family.name, job)
    return list(seen.values())


async def _timed(
    backend: SynthesisBackend, jobs: list[SynthesisJob], warmup: list[SynthesisJob], concurrent: bool
) -> tuple[float, list[str]]:
    """A warm-up (model load, grammar compilation) and then the timed run, in one event loop."""
    try:
        await _run(backend, warmup, concurrent)
        secs, texts, _ = await _run(backend, jobs, concurrent)
        return secs, texts
    finally:
        await backend.close()


def _valid_rate(texts: list[str], jobs: list[SynthesisJob]) -> float:
    ok = 0
    for text, job in zip(texts, [j for j in jobs for _ in range(j.n)], strict=True):
        try:
            job.family.parse(text)
            ok += 1
        except ParseError:
            pass
    return ok / len(texts) if texts else 0.0


def run_bench_synth(config: BenchSynthConfig) -> dict[str, Any]:
    from agents.synthesis.hf_backend import HfBackend
    from agents.synthesis.hf_backend_config import HfBackendConfig
    from agents.synthesis.vllm_backend import VllmBackend
    from agents.synthesis.vllm_backend_config import VllmBackendConfig

    jobs = bench_jobs(config)
    warmup = warmup_jobs(config)
    with ExitStack() as stack:
        url = config.vllm_url
        if url is None:
            from agents.vllm_server import VllmServer
            from agents.vllm_server_config import VllmServerConfig

            server = stack.enter_context(
                VllmServer(
                    VllmServerConfig(
                        venv=config.vllm_venv,
                        model_dir=config.model_dir,
                        served_model_name=config.served_name,
                        dtype=config.dtype,
                    )
                )
            )
            url = server.base_url
        assert url is not None
        vllm = VllmBackend(
            VllmBackendConfig(
                url=url,
                model=config.served_name,
                concurrency=len(jobs),
                max_tokens=config.max_tokens,
                temperature=config.temperature,
                request_timeout_s=config.request_timeout_s,
                send_images=config.images > 0,
            )
        )
        v_secs, v_texts = asyncio.run(_timed(vllm, jobs, warmup, concurrent=True))
    h_secs: float | None = None
    h_texts: list[str] = []
    if not config.skip_hf:
        hf = HfBackend(
            HfBackendConfig(
                model_dir=config.model_dir,
                max_new_tokens=config.max_tokens,
                temperature=config.temperature,
                dtype=config.dtype,
            )
        )
        h_secs, h_texts = asyncio.run(_timed(hf, jobs, [replace(warmup[0], n=1)], concurrent=False))
    examples = sum(job.n for job in jobs)
    v_eps = examples / v_secs
    h_eps = examples / h_secs if h_secs else None
    return {
        "jobs": len(jobs),
        "candidates": config.candidates,
        "examples": examples,
        "max_tokens": config.max_tokens,
        "dtype": resolve_dtype(config.dtype),
        "temperature": config.temperature,
        "cpu_count": os.cpu_count(),
        "served_name": config.served_name,
        "images_per_prompt": round(sum(len(j.images) for j in jobs) / len(jobs), 2) if jobs else 0.0,
        "hf_skipped": config.skip_hf,
        "vllm_examples_per_s": round(v_eps, 3),
        "hf_examples_per_s": round(h_eps, 3) if h_eps else None,
        "ratio": round(v_eps / h_eps, 2) if h_eps else None,
        "json_valid_rate": round(_valid_rate(v_texts, jobs), 3),
        "hf_json_valid_rate": None if config.skip_hf else round(_valid_rate(h_texts, jobs), 3),
        "vllm_seconds": round(v_secs, 2),
        "hf_seconds": round(h_secs, 2) if h_secs else None,
    }
