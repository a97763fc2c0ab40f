"""Where the warm start's rows come from: accepted examples on the topics and the benchmark's dev references.

The trainer (`trainer.sft`) checks every row again (parse, validators, heldout recordings); this module only
gathers candidates with their windows. The benchmark is read here, beside the entrypoints, not in `trainer/`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.tasks.base import SynthesisContext, TaskFamily, TaskSpec
from core.records import AnchorSet, Example, Intent, RejectedExample
from trainer.sft import SftSource

log = logging.getLogger(__name__)


def stream_sources(
    accepted: Sequence[Example],
    anchors: Mapping[str, AnchorSet],
    intents: Mapping[str, Intent],
    families: Mapping[str, TaskFamily],
) -> list[SftSource]:
    """Accepted examples whose window and family are known (the rules backend's included)."""
    out: list[SftSource] = []
    for e in accepted:
        window, family = anchors.get(e.window_id), families.get(e.task_family)
        if window is None or family is None:
            continue
        intent = intents.get(e.intent_id or "")
        spec = TaskSpec(family.name, e.intent_id, window.domain, None, intent.text if intent else "")
        out.append(SftSource(e.example_id, family, SynthesisContext(window, spec), e.output_json, "stream"))
    return out


def rules_sources(
    jobs: Sequence[Example | RejectedExample],
    anchors: Mapping[str, AnchorSet],
    intents: Mapping[str, Intent],
    families: Mapping[str, TaskFamily],
) -> list[SftSource]:
    """The rules backend as teacher: its output for every job the stream synthesised (window, intent, family;
    accepted or rejected alike), in the same prompt. A stream served by a model holds no rules examples, and the
    rules score above the untrained model on the heldout split (S_accepted 0.732 against 0.615, docs/learning.md)."""
    out: list[SftSource] = []
    seen: set[tuple[str, str | None, str]] = set()
    for e in jobs:
        job = (e.window_id, e.intent_id, e.task_family)
        window, family = anchors.get(e.window_id), families.get(e.task_family)
        if job in seen or window is None or family is None:
            continue
        seen.add(job)
        intent = intents.get(e.intent_id or "")
        ctx = SynthesisContext(
            window, TaskSpec(family.name, e.intent_id, window.domain, None, intent.text if intent else "")
        )
        rule = family.rule_output(ctx)
        if rule is not None:
            out.append(
                SftSource(
                    f"rules:{e.window_id}:{e.intent_id or '-'}:{family.name}",
                    family,
                    ctx,
                    rule.model_dump_json(),
                    "rules",
                )
            )
    return out


def reference_sources(families: Mapping[str, TaskFamily], cases_dir: Path | None = None) -> list[SftSource]:
    """The dev split's references with their cases' windows, intents and distractors."""
    import json

    from bench.scoring import context
    from bench.store import load_cases

    out: list[SftSource] = []
    for case in load_cases(cases_dir, "dev"):
        family = families.get(case.family)
        if family is not None:
            out.append(
                SftSource(
                    f"case:{case.case_id}", family, context(case), json.dumps(case.reference), "reference"
                )
            )
    return out


def with_key_frames(
    sources: list[SftSource], store: Any, max_images: int, max_side: int, limits: Any
) -> tuple[list[SftSource], int]:
    """For a base model that takes images: each source with its window's key frames, chosen and shrunk as the
    synthesis stage does; sources whose frames the store does not have are left out (a vision model's rows
    all show their frames), and counted."""
    import dataclasses

    from agents.synthesis.frames import FrameUnavailable, load_images

    out, missing = [], 0
    for src in sources:
        try:
            images = load_images(src.ctx.anchors, store, max_images, max_side, limits)
        except FrameUnavailable:
            missing += 1
            continue
        out.append(dataclasses.replace(src, images=images))
    return out, missing
