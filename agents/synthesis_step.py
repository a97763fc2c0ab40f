"""One synthesis step: (anchors, task spec) → candidates from a backend → parsed, validated, rewarded
→ accepted `Example`s and `RejectedExample`s. Pure logic; the Faust stage feeds and publishes it."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from agents.rewards import group_rewards
from agents.synthesis.base import Generation, SynthesisBackend, SynthesisJob, WindowImage
from agents.tasks.base import ParseError, SynthesisContext, TaskFamily, strip_fence
from core.records import Anchor, AnchorSet, Example, RejectedExample

log = logging.getLogger(__name__)


def canonical_content(text: str) -> str:
    """A candidate's content for its id: one surrounding code fence and outer whitespace removed, JSON
    re-serialised with sorted keys and no spaces (text that is not JSON stays as it is)."""
    body = strip_fence(text)
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        return body


def example_id(window_id: str, family: str, model: str, weights_version: str | None, text: str) -> str:
    """The id of one candidate: sha256 of the window, family, the model that wrote it
    (`Generation.model`: "rules", "smollm2", "hf:..."), its weights version and the sha256 of its canonical
    content.

    Deterministic: the same generation judged again (a redelivered window, a retry) gives the same ids, so the
    idempotent sink writes it once. The intent is not part of the id: two intents that map to one family and
    get the same content for a window share one example (`merge_intents`), listing both in `intent_ids`. Different makers never share an id: the rules backend's example and a
    model's example for the same window, intent and family are both kept. The candidate's slot is not part of
    the id, so two candidates of one group whose canonical content is the same get one id and are written
    once."""
    content = hashlib.sha256(canonical_content(text).encode()).hexdigest()
    key = "|".join((window_id, family, model, weights_version or "base", content))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class StepResult:
    accepted: list[Example]
    rejected: list[RejectedExample]
    generation: Generation
    duplicates: int = (
        0  # candidates whose canonical content repeated an earlier one of the group (not emitted)
    )
    merged: int = (
        0  # accepted examples identical to another intent's for the window: one example, both intents
    )


def merge_intents(results: list[StepResult]) -> list[StepResult]:
    """The step results of one batch with content shared across intents emitted once: an example (accepted or
    rejected) whose id an earlier job of the batch already produced is dropped from its own result and its
    intent is added to the earlier one's `intent_ids`. The same window, family and model writing the same
    content for two intents gives one example that names both."""
    owner: dict[str, tuple[int, int, bool]] = {}  # example id -> (result, position, accepted?)
    accepted = [list(r.accepted) for r in results]
    rejected = [list(r.rejected) for r in results]
    merged = [0] * len(results)
    keep_a: list[list[bool]] = [[True] * len(r.accepted) for r in results]
    keep_r: list[list[bool]] = [[True] * len(r.rejected) for r in results]
    for i in range(len(results)):
        lists: tuple[tuple[bool, list[Any], list[bool]], ...] = (
            (True, accepted[i], keep_a[i]),
            (False, rejected[i], keep_r[i]),
        )
        for kind, items, keep in lists:
            for j, ex in enumerate(items):
                first = owner.get(ex.example_id)
                if first is None:
                    owner[ex.example_id] = (i, j, kind)
                    continue
                keep[j] = False
                merged[i] += kind
                fi, fj, fkind = first
                target: list[Any] = accepted[fi] if fkind else rejected[fi]
                have = target[fj]
                asked = [*have.intent_ids, *(x for x in ex.intent_ids if x not in have.intent_ids)]
                target[fj] = have.model_copy(update={"intent_ids": asked})
    return [
        replace(
            r,
            accepted=[e for e, k in zip(accepted[i], keep_a[i], strict=True) if k],
            rejected=[e for e, k in zip(rejected[i], keep_r[i], strict=True) if k],
            merged=merged[i],
        )
        for i, r in enumerate(results)
    ]


def judge(
    family: TaskFamily, ctx: SynthesisContext, gen: Generation, min_reward: float | None = None
) -> StepResult:
    """Parse, validate and reward every candidate of one group. A candidate that passes every validator but
    whose r_total is under `min_reward` (default: the family's `text_checks.min_reward`) is rejected as
    reward_below_minimum: it does not reach the sink. A candidate with the same id as an earlier one of
    the group (same canonical content) is judged once: the repeat is counted in `duplicates`, not emitted,
    so a topic never carries one example twice. Rewards still see the whole group."""
    floor = family.text_checks.min_reward if min_reward is None else min_reward
    rewards = group_rewards(family, ctx, gen.texts) if gen.texts else []
    accepted: list[Example] = []
    rejected: list[RejectedExample] = []
    anchors = ctx.anchors
    now = time.time()
    seen: set[str] = set()
    duplicates = 0
    asked = [ctx.spec.intent_id] if ctx.spec.intent_id else []
    provenance: dict[str, Any] | None = None
    timeline = window_timeline(anchors)
    where: dict[str, Any] = {
        "source": anchors.span,
        "intent_text": ctx.spec.text or None,
        "window_anchors": timeline,
    }
    for i, text in enumerate(gen.texts):
        ex_id = example_id(anchors.window_id, family.name, gen.model, gen.weights_version, text)
        if ex_id in seen:
            duplicates += 1
            continue
        seen.add(ex_id)
        terms = {k: float(v) for k, v in rewards[i].items()}
        try:
            output = family.parse(text)
        except ParseError as exc:
            rejected.append(
                RejectedExample(
                    example_id=ex_id,
                    task_family=family.name,
                    window_id=anchors.window_id,
                    reasons=[exc.reason],
                    details=[exc.detail[:500]],
                    raw_output=text[:200_000],
                    model=gen.model,
                    intent_id=ctx.spec.intent_id,
                    intent_ids=asked,
                    weights_version=gen.weights_version,
                    prompt_sha256=gen.prompt_sha256,
                    image_frames=list(gen.image_frames),
                    rewards=terms,
                    created_at=now,
                    **where,
                )
            )
            continue
        violations = family.validate(ctx, output)
        if violations:
            rejected.append(
                RejectedExample(
                    example_id=ex_id,
                    task_family=family.name,
                    window_id=anchors.window_id,
                    reasons=sorted({v.reason for v in violations}),
                    details=[v.detail[:500] for v in violations][:20],
                    raw_output=text[:200_000],
                    model=gen.model,
                    intent_id=ctx.spec.intent_id,
                    intent_ids=asked,
                    weights_version=gen.weights_version,
                    prompt_sha256=gen.prompt_sha256,
                    image_frames=list(gen.image_frames),
                    rewards=terms,
                    created_at=now,
                    **where,
                )
            )
            continue
        r_total = terms.get("r_total")
        if r_total is None or r_total < floor:
            rejected.append(
                RejectedExample(
                    example_id=ex_id,
                    task_family=family.name,
                    window_id=anchors.window_id,
                    reasons=["reward_below_minimum"],
                    details=[f"r_total {r_total} < {floor}"],
                    raw_output=text[:200_000],
                    model=gen.model,
                    intent_id=ctx.spec.intent_id,
                    intent_ids=asked,
                    prompt_sha256=gen.prompt_sha256,
                    weights_version=gen.weights_version,
                    image_frames=list(gen.image_frames),
                    rewards=terms,
                    created_at=now,
                    **where,
                )
            )
            continue
        if provenance is None:  # once per group, only when something is accepted
            provenance = example_provenance(family, ctx, floor)
        cited = family.cited_anchor_ids(ctx, output)
        accepted.append(
            Example(
                example_id=ex_id,
                task_family=family.name,
                output_json=output.model_dump_json(),
                window_id=anchors.window_id,
                intent_id=ctx.spec.intent_id,
                intent_ids=asked,
                source=anchors.span,
                anchor_ids=cited,
                frames=family.cited_key_frames(ctx, output),
                model=gen.model,
                weights_version=gen.weights_version,
                prompt_sha256=gen.prompt_sha256,
                image_frames=list(gen.image_frames),
                rewards=terms,
                created_at=now,
                **provenance,
                cited_anchors=[a for a in anchors.anchors if a.anchor_id in set(cited)],
                window_anchors=timeline,
            )
        )
    return StepResult(accepted, rejected, gen, duplicates)


TIMELINE_CONTENT_CHARS = 200
TIMELINE_MAX_ANCHORS = 500  # every example of a window repeats them: about 150 KB at most per record


def window_timeline(anchors: AnchorSet) -> list[Anchor]:
    """Every anchor of the window (the first TIMELINE_MAX_ANCHORS) with its content cut short: what a row keeps so the audit
    page draws the window's timeline without the anchors topic (the cited anchors are kept in full beside it)."""
    return [
        a
        if len(a.content) <= TIMELINE_CONTENT_CHARS
        else a.model_copy(update={"content": a.content[:TIMELINE_CONTENT_CHARS]})
        for a in anchors.anchors[:TIMELINE_MAX_ANCHORS]
    ]


def canonical_sha256(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def anchor_set_sha256(anchors: AnchorSet) -> str:
    """sha256 of the anchor set's content: its canonical JSON without `created_at`. A window closed twice
    (its close cut short by a crash, or in flight when a rebalance took its partition) is published twice
    with two creation times; both copies must name the same anchor set, so that the examples made of them
    are the same example (one id, identical but for their own `created_at`)."""
    return canonical_sha256(anchors.model_dump(mode="json", exclude={"created_at"}))


def example_provenance(family: TaskFamily, ctx: SynthesisContext, floor: float) -> dict[str, Any]:
    """What an accepted example carries so its row trains and audits without Kafka: the prompt the backends
    send (`family.chat_messages(ctx)`, the same call they make), the intent's words, the family's schema
    version (a hash, so a changed output model shows without anyone bumping a number), the anchor set's
    hash, the validators it passed, the reward floor it cleared, and the recording it came from with its licence."""
    return {
        "prompt_json": json.dumps(family.chat_messages(ctx), ensure_ascii=False),
        "intent_text": ctx.spec.text or None,
        "family_schema_sha256": canonical_sha256(family.json_schema()),
        "anchor_set_sha256": anchor_set_sha256(ctx.anchors),
        "validators": [type(v).__name__ for v in family.validators()],
        "min_reward": floor,
        "recording": ctx.anchors.recording,
        "licence": ctx.anchors.licence,
    }


async def synthesize_step(
    backend: SynthesisBackend,
    family: TaskFamily,
    ctx: SynthesisContext,
    n: int,
    images: tuple[WindowImage, ...] = (),
) -> StepResult:
    gen = await backend.synthesize(SynthesisJob(family, ctx, n, images))
    return judge(family, ctx, gen)
