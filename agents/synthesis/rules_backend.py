"""The rule-only synthesiser: fills the family's schema straight from the anchors (the paper's
"heuristic rules" baseline, and the fallback when no model answers)."""

from __future__ import annotations

import asyncio

from agents.synthesis.base import Generation, SynthesisBackend, SynthesisJob

RULES_MODEL = (
    "rules"  # the `model` of every example the rules write (the trainer tells them from model outputs)
)


class RulesBackend(SynthesisBackend):
    name = "rules"

    def __init__(self, concurrency: int = 8) -> None:
        super().__init__(concurrency)

    async def generate(self, job: SynthesisJob) -> Generation:
        output = await asyncio.to_thread(job.family.rule_output, job.ctx)
        texts = [] if output is None else [output.model_dump_json()]
        return Generation(texts=texts, model=RULES_MODEL)
