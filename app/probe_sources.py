"""The downstream probe in the trainer service: which accepted examples it measures and against what.

The student probe (`trainer.student_probe`) trains a student on batches of accepted examples of one family
and scores it on that family's dev-split references of other recordings. Dev, never heldout: the trainer
learns from the probe's metric, so scoring it on the benchmark's heldout recordings would let the gate's
benchmark leak into training. The benchmark is read here, beside the entrypoints, not in `trainer/`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from agents.tasks.base import TaskFamily
from app.sft_sources import reference_sources, stream_sources
from core.records import AnchorSet, Example, Feedback, Intent
from trainer.heldout import HeldoutRecordings
from trainer.sft import SftSource
from trainer.student_probe import StudentItem

log = logging.getLogger(__name__)


def student_item(src: SftSource) -> StudentItem:
    window = src.ctx.anchors
    return StudentItem(
        src.source_id, src.family.chat_messages(src.ctx), src.text, f"{window.domain}:{window.key}"
    )


def probe_items(
    accepted: Sequence[Example],
    anchors: Mapping[str, AnchorSet],
    intents: Mapping[str, Intent],
    families: Mapping[str, TaskFamily],
    limit: int,
    cases_dir: Path | None = None,
) -> dict[str, tuple[list[StudentItem], list[StudentItem]]]:
    """Per family: (the last `limit` accepted examples outside the heldout recordings, that family's dev
    references outside them)."""
    heldout = HeldoutRecordings.load()
    examples: dict[str, list[StudentItem]] = defaultdict(list)
    kept = [
        src
        for src in stream_sources(accepted, anchors, intents, families)
        if not heldout.holds(src.ctx.anchors)
    ]
    for src in kept[-limit:]:
        examples[src.family.name].append(student_item(src))
    references: dict[str, list[StudentItem]] = defaultdict(list)
    for src in reference_sources({n: f for n, f in families.items() if n in examples}, cases_dir):
        if not heldout.holds(src.ctx.anchors):
            references[src.family.name].append(student_item(src))
    return {name: (items, references[name]) for name, items in examples.items() if references[name]}


def student_probe(
    model_dir: Path,
    accepted: Sequence[Example],
    anchors: Mapping[str, AnchorSet],
    intents: Mapping[str, Intent],
    families: Mapping[str, TaskFamily],
    limit: int,
) -> list[Feedback]:
    """`batch_metric` feedback (heldout_loss_drop) for batches of the last `limit` accepted examples outside
    the heldout recordings, family by family."""
    import time

    from trainer.probe import ProbeError
    from trainer.student_probe import StudentProbe

    probe = StudentProbe(model_dir)
    now = time.time()
    found: list[Feedback] = []
    for family, (items, refs) in probe_items(accepted, anchors, intents, families, limit).items():
        try:
            found += [m.feedback(probe.config, now) for m in probe.measure(items, refs)]
        except ProbeError as exc:
            log.info("student probe skipped %s: %s", family, exc)
    return found
