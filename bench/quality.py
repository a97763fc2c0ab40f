"""The refinement benchmark: every case of a split through a synthesis backend, scored against its
reference (see `bench.scoring`), aggregated overall, by domain and by family: S_total, S_accepted (S_total
with every output the validators reject scored 0: what the pipeline keeps) and the validator pass rate.

    from bench.quality import run_quality_bench
    figures = run_quality_bench("rules", "dev", json_path=Path("quality.json"))

Generation is greedy (hf, vllm) or deterministic (rules), so the same cases, weights and settings give
the same figures.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from agents.synthesis.base import Generation, SynthesisBackend, SynthesisJob
from bench.backends import bench_backend
from bench.case import BenchCase
from bench.quality_config import QualityBenchConfig
from bench.report import report
from bench.scoring import CaseScorer, context
from bench.sources import REPO
from bench.store import DEFAULT_CASES_DIR, CaseSetError, load_cases, read_version

log = logging.getLogger(__name__)


def select(cases: list[BenchCase], config: QualityBenchConfig) -> list[BenchCase]:
    if config.case_ids is not None:
        known = {c.case_id for c in cases}
        unknown = sorted(set(config.case_ids) - known)
        if unknown:
            raise CaseSetError("unknown_case", f"not in this split: {unknown}")
        cases = [c for c in cases if c.case_id in set(config.case_ids)]
    return cases[: config.limit] if config.limit is not None else cases


async def generate(
    backend: SynthesisBackend, scorer: CaseScorer, cases: list[BenchCase]
) -> list[tuple[str, str | None]]:
    """One text per case (empty when the backend produced none); the error label when it failed."""
    done = 0

    async def one(case: BenchCase) -> tuple[str, str | None]:
        nonlocal done
        job = SynthesisJob(scorer.families[case.family], context(case), n=1)
        try:
            gen: Generation = await backend.synthesize(job)
            result: tuple[str, str | None] = (
                gen.texts[0] if gen.texts else "",
                None if gen.texts else "no_output",
            )
        except Exception as exc:  # one failed case scores 0; the run goes on
            log.warning("%s: generation failed: %s", case.case_id, exc)
            result = ("", getattr(exc, "reason", type(exc).__name__))
        done += 1
        log.info("generated %d/%d (%s)", done, len(cases), case.case_id)
        return result

    try:
        return list(await asyncio.gather(*(one(c) for c in cases)))
    finally:
        await backend.close()


def run_quality_bench(
    backend: str,
    split: str,
    cases_dir: Path | None = None,
    json_path: Path | None = None,
    config: QualityBenchConfig | None = None,
) -> dict[str, Any]:
    """Figures of `backend` (rules | hf | vllm) on `split` (dev | heldout | all) as a JSON-ready dict;
    written to `json_path` too when given."""
    cfg = config or QualityBenchConfig()
    folder = cases_dir or DEFAULT_CASES_DIR
    version = read_version(folder)
    cases = select(load_cases(folder, split), cfg)
    if not cases:
        raise CaseSetError("no_cases", f"no cases selected from {folder} split {split}")
    runner = bench_backend(backend, cfg)
    runner.describe()  # checks the weights version before anything starts
    scorer = CaseScorer(cfg.scoring)
    started = time.perf_counter()
    with ExitStack() as stack:
        synth = runner.open(stack)
        opened = time.perf_counter()
        outputs = asyncio.run(generate(synth, scorer, cases))
        generated = time.perf_counter()
    scores = [scorer.score(case, text) for case, (text, _) in zip(cases, outputs)]
    figures = report(scores)
    for row, (text, error) in zip(figures["per_case"], outputs):
        row["error"] = error
        if cfg.keep_outputs:
            row["output"] = text[: cfg.keep_outputs]
    result: dict[str, Any] = {
        "backend": backend,
        "split": split,
        **runner.describe(),
        "case_set": {"name": version.name, "schema_version": version.schema_version, "dir": _shown(folder)},
        **figures,
        "generation_errors": sum(1 for _, e in outputs if e is not None),
        "settings": {
            "greedy": backend != "rules",
            "max_new_tokens": cfg.max_new_tokens,
            "density_tokenizer": scorer.tokens.name,
            "scoring": cfg.scoring.model_dump(mode="json"),
        },
        "seconds": {
            "start": round(opened - started, 1),
            "generate": round(generated - opened, 1),
            "score": round(time.perf_counter() - generated, 1),
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
    }
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log.info(
        "%s on %s (%d cases): S_total %.3f, S_accepted %.3f, validator pass rate %.3f",
        backend,
        split,
        len(cases),
        result["s_total"],
        result["s_accepted"],
        result["pass_rate"],
    )
    return result


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)
