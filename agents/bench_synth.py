"""`tailor bench synth`: the same model and the same prompts through the vLLM server (concurrent
requests, continuous batching) and through in-process transformers generation (sequential), in one
run. Reports examples/s of each, their ratio, and the JSON-valid rate of each."""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import ExitStack
from typing import Any

from agents.bench_synth_config import BenchSynthConfig
from agents.synthesis.base import SynthesisBackend, SynthesisJob
from agents.tasks.base import ParseError
from agents.tasks.catalog import families


def bench_jobs(config: BenchSynthConfig) -> list[SynthesisJob]:
    from bench.scoring import context
    from bench.store import load_cases

    by_name = {f.name: f for f in families()}
    cases = load_cases(config.cases_dir, config.split)
    jobs = [SynthesisJob(by_name[c.family], context(c), n=1) for c in cases if c.family in by_name]
    while len(jobs) < config.jobs and jobs:
        jobs += jobs[: config.jobs - len(jobs)]
    return jobs[: config.jobs]


async def _run(backend: SynthesisBackend, jobs: list[SynthesisJob], concurrent: bool) -> tuple[float, list[str], list[SynthesisJob]]:
    started = time.perf_counter()
    if concurrent:
        gens = await asyncio.gather(*(backend.synthesize(j) for j in jobs))
    else:
        gens = [await backend.synthesize(j) for j in jobs]
    texts = [g.texts[0] if g.texts else "" for g in gens]
    return time.perf_counter() - started, texts, jobs


async def _timed(backend: SynthesisBackend, jobs: list[SynthesisJob], concurrent: bool) -> tuple[float, list[str]]:
    """A warm-up (model load, first-request compilation) and then the timed run, in one event loop."""
    try:
        await _run(backend, jobs[:2], concurrent)
        secs, texts, _ = await _run(backend, jobs, concurrent)
        return secs, texts
    finally:
        await backend.close()


def _valid_rate(texts: list[str], jobs: list[SynthesisJob]) -> float:
    ok = 0
    for text, job in zip(texts, jobs, strict=True):
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
    with ExitStack() as stack:
        url = config.vllm_url
        if url is None:
            from agents.vllm_server import VllmServer
            from agents.vllm_server_config import VllmServerConfig

            server = stack.enter_context(VllmServer(VllmServerConfig(
                venv=config.vllm_venv, model_dir=config.model_dir, served_model_name=config.served_name)))
            url = server.base_url
        assert url is not None
        vllm = VllmBackend(VllmBackendConfig(url=url, model=config.served_name, concurrency=len(jobs),
                                             max_tokens=config.max_tokens, temperature=0.0))
        v_secs, v_texts = asyncio.run(_timed(vllm, jobs, concurrent=True))
    hf = HfBackend(HfBackendConfig(model_dir=config.model_dir, max_new_tokens=config.max_tokens, temperature=0.0))
    h_secs, h_texts = asyncio.run(_timed(hf, jobs, concurrent=False))
    v_eps, h_eps = len(jobs) / v_secs, len(jobs) / h_secs
    return {
        "jobs": len(jobs), "max_tokens": config.max_tokens, "cpu_count": os.cpu_count(),
        "vllm_examples_per_s": round(v_eps, 3), "hf_examples_per_s": round(h_eps, 3),
        "ratio": round(v_eps / h_eps, 2),
        "json_valid_rate": round(_valid_rate(v_texts, jobs), 3),
        "hf_json_valid_rate": round(_valid_rate(h_texts, jobs), 3),
        "vllm_seconds": round(v_secs, 2), "hf_seconds": round(h_secs, 2),
    }
