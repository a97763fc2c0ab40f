"""One synthesis step: (anchors, task spec) → candidates from a backend → parsed, validated, rewarded
→ accepted `Example`s and `RejectedExample`s. Pure logic; the Faust stage feeds and publishes it."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from agents.rewards import group_rewards
from agents.synthesis.base import Generation, SynthesisBackend, SynthesisJob
from agents.tasks.base import ParseError, SynthesisContext, TaskFamily
from streaming.records import Example, RejectedExample

log = logging.getLogger(__name__)


def example_id(window_id: str, intent_id: str | None, family: str, weights_version: str | None, index: int) -> str:
    """Deterministic: the same window, intent, family, weights and candidate slot give the same id."""
    key = f"{window_id}|{intent_id or '-'}|{family}|{weights_version or 'base'}|{index}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class StepResult:
    accepted: list[Example]
    rejected: list[RejectedExample]
    generation: Generation


def judge(family: TaskFamily, ctx: SynthesisContext, gen: Generation) -> StepResult:
    """Parse, validate and reward every candidate of one group."""
    rewards = group_rewards(family, ctx, gen.texts) if gen.texts else []
    accepted: list[Example] = []
    rejected: list[RejectedExample] = []
    anchors = ctx.anchors
    now = time.time()
    for i, text in enumerate(gen.texts):
        ex_id = example_id(anchors.window_id, ctx.spec.intent_id, family.name, gen.weights_version, i)
        terms = {k: float(v) for k, v in rewards[i].items()}
        try:
            output = family.parse(text)
        except ParseError as exc:
            rejected.append(RejectedExample(example_id=ex_id, task_family=family.name, window_id=anchors.window_id,
                                            reasons=[exc.reason], details=[exc.detail[:500]],
                                            raw_output=text[:200_000], model=gen.model, intent_id=ctx.spec.intent_id,
                                            weights_version=gen.weights_version, prompt_sha256=gen.prompt_sha256,
                                            rewards=terms, created_at=now))
            continue
        violations = family.validate(ctx, output)
        if violations:
            rejected.append(RejectedExample(
                example_id=ex_id, task_family=family.name, window_id=anchors.window_id,
                reasons=sorted({v.reason for v in violations}), details=[v.detail[:500] for v in violations][:20],
                raw_output=text[:200_000], model=gen.model, intent_id=ctx.spec.intent_id,
                weights_version=gen.weights_version, prompt_sha256=gen.prompt_sha256, rewards=terms, created_at=now))
            continue
        accepted.append(Example(
            example_id=ex_id, task_family=family.name, output_json=output.model_dump_json(),
            window_id=anchors.window_id, intent_id=ctx.spec.intent_id, source=anchors.span,
            anchor_ids=family.cited_anchor_ids(ctx, output), frames=family.cited_key_frames(ctx, output),
            model=gen.model, weights_version=gen.weights_version, prompt_sha256=gen.prompt_sha256,
            rewards=terms, created_at=now,
        ))
    return StepResult(accepted, rejected, gen)


async def synthesize_step(backend: SynthesisBackend, family: TaskFamily, ctx: SynthesisContext, n: int,
                          images: tuple[bytes, ...] = ()) -> StepResult:
    gen = await backend.synthesize(SynthesisJob(family, ctx, n, images))
    return judge(family, ctx, gen)
