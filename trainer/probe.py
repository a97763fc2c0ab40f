"""The downstream probe: how much would training on each tailored example help a student on held-out data?

Student: the base model (SmolLM2-135M), trainable only in its last `last_layers` decoder layers and final
norm. Loss of an item: the mean cross-entropy of its output tokens given its prompt (chat template, the
prompt's tokens unscored). For every example i and the held-out set H:

    utility_i = cos( ∇L_i , ∇L_H )      (gradients over the trainable parameters)

averaged over `checkpoints` student states (the base, then after SGD steps on the examples' mean loss:
the student trains on the family's examples as it goes). To first order one SGD step on example i
changes the held-out loss by −η ∇L_i·∇L_H, so a positive utility means training on the example lowers the
held-out loss (it teaches what the held-out set needs), a negative one means it raises it (it teaches
something else: wrong frames, broken JSON, another task). The cosine removes the gradient's magnitude, so
long or badly fit examples are not favoured for their size alone. Held-out set: the given items (e.g.
reference outputs of other windows of the family), or, when none are given, the other examples
(leave-one-out). Values lie in [-1, 1]; results come back as `Feedback` records (kind example_utility).
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import TailorError
from core.records import Feedback
from trainer.lm import Message, completion_loss, encode
from trainer.probe_config import ProbeConfig

log = logging.getLogger(__name__)

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


class ProbeError(TailorError, ValueError):
    """A labelled failure of this module (`reason`, `detail`)."""


@dataclass(frozen=True)
class ProbeItem:
    example_id: str
    prompt: list[Message]
    output: str  # the example's output text (its JSON)


@dataclass
class ProbeReport:
    utilities: dict[str, float]
    losses: dict[str, float]  # each example's output loss on the base student
    heldout_loss: float  # mean held-out loss on the base student
    seconds: float
    family: str | None = None
    per_checkpoint: list[dict[str, float]] = field(default_factory=list)

    def feedback(self, source: str = "probe", created_at: float | None = None) -> list[Feedback]:
        now = time.time() if created_at is None else created_at
        return [
            Feedback(
                feedback_id=f"{source}-{uuid.uuid5(uuid.NAMESPACE_URL, f'{ex_id}|{now}').hex[:24]}",
                kind="example_utility",
                example_ids=[ex_id],
                utility=u,
                source=source,
                created_at=now,
            )
            for ex_id, u in self.utilities.items()
        ]


def trainable(model: Any, last_layers: int) -> list[Any]:
    """Freeze the student except its last `last_layers` decoder layers and its final norm; return those."""
    named = list(model.named_parameters())
    layers = sorted({int(m.group(1)) for n, _ in named if (m := _LAYER.search(n))})
    if not layers:
        raise ProbeError("unsupported_model", "no decoder layers (…layers.<i>.…) among the parameters")
    keep = set(layers[-last_layers:])
    out = []
    for name, param in named:
        m = _LAYER.search(name)
        wanted = (m is not None and int(m.group(1)) in keep) or (m is None and name.endswith("norm.weight"))
        param.requires_grad_(wanted)
        if wanted:
            out.append(param)
    return out


class GradientProbe:
    def __init__(self, model_dir: Path, config: ProbeConfig | None = None) -> None:
        self.model_dir = model_dir
        self.config = config or ProbeConfig()

    def measure(
        self, examples: list[ProbeItem], heldout: list[ProbeItem] | None = None, family: str | None = None
    ) -> ProbeReport:
        import torch

        from agents.model_cache import load_model

        cfg = self.config
        started = time.perf_counter()
        examples, held = self.check(examples, heldout)
        model, tokenizer = load_model(Path(self.model_dir), dtype=cfg.dtype)
        model.train(False)
        params = trainable(model, cfg.last_layers)
        encoded = {
            id(it): encode(tokenizer, it.prompt, it.output, cfg.max_length) for it in [*examples, *held]
        }
        optimizer = torch.optim.SGD(params, lr=cfg.learning_rate)
        sums = {ex.example_id: 0.0 for ex in examples}
        losses: dict[str, float] = {}
        heldout_loss = math.nan
        per_checkpoint = []
        for checkpoint in range(cfg.checkpoints):
            if checkpoint:
                self.train_steps(model, optimizer, [encoded[id(ex)] for ex in examples])
            grads, item_losses = {}, {}
            for it in [*examples, *held]:
                grads[id(it)], item_losses[id(it)] = self.gradient(model, params, *encoded[id(it)])
            if checkpoint == 0:
                losses = {ex.example_id: item_losses[id(ex)] for ex in examples}
                heldout_loss = sum(item_losses[id(h)] for h in (held or examples)) / len(held or examples)
            scores = {}
            for ex in examples:
                pool = [h for h in (held or examples) if h.example_id != ex.example_id]
                target = torch.stack([grads[id(h)] for h in pool]).mean(dim=0)
                scores[ex.example_id] = cosine(grads[id(ex)], target)
                sums[ex.example_id] += scores[ex.example_id]
            per_checkpoint.append(scores)
        utilities = {k: v / cfg.checkpoints for k, v in sums.items()}
        bad = [k for k, v in utilities.items() if not math.isfinite(v)]
        if bad:
            raise ProbeError("non_finite", f"utility of {bad[0]} is not finite")
        report = ProbeReport(
            utilities, losses, heldout_loss, time.perf_counter() - started, family, per_checkpoint
        )
        log.info(
            "probe%s: %d examples against %d held-out items in %.1fs",
            f" ({family})" if family else "",
            len(examples),
            len(held or examples),
            report.seconds,
        )
        return report

    def check(
        self, examples: list[ProbeItem], heldout: list[ProbeItem] | None
    ) -> tuple[list[ProbeItem], list[ProbeItem]]:
        cfg = self.config
        held = list(heldout or [])[: cfg.max_items]
        if not examples:
            raise ProbeError("no_examples", "nothing to measure")
        if len(examples) > cfg.max_items:
            raise ProbeError("too_many_examples", f"{len(examples)} > {cfg.max_items}")
        if not held and len(examples) < 2:
            raise ProbeError(
                "no_heldout", "leave-one-out needs at least two examples, or give held-out items"
            )
        ids = [ex.example_id for ex in examples]
        if len(set(ids)) != len(ids):
            raise ProbeError("duplicate_ids", "example ids repeat")
        for it in [*examples, *held]:
            if not it.output.strip() or not it.prompt:
                raise ProbeError("empty_item", f"{it.example_id} has no output or no prompt")
        return list(examples), held

    def gradient(self, model: Any, params: list[Any], ids: list[int], labels: list[int]) -> tuple[Any, float]:
        import torch

        model.zero_grad(set_to_none=True)
        loss = completion_loss(model, ids, labels)
        if not bool(torch.isfinite(loss)):
            raise ProbeError("non_finite", "an item's loss is not finite")
        loss.backward()
        flat = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).float().flatten() for p in params]
        )
        return flat, float(loss.detach())

    def train_steps(self, model: Any, optimizer: Any, batch: list[tuple[list[int], list[int]]]) -> None:
        for _ in range(self.config.steps_between):
            optimizer.zero_grad(set_to_none=True)
            loss = sum(completion_loss(model, ids, labels) for ids, labels in batch) / len(batch)
            loss.backward()  # type: ignore[union-attr]
            optimizer.step()


def cosine(a: Any, b: Any) -> float:
    import torch

    na, nb = float(torch.linalg.vector_norm(a)), float(torch.linalg.vector_norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(torch.dot(a, b)) / (na * nb)


def probe_feedback(
    model_dir: Path,
    examples: list[ProbeItem],
    heldout: list[ProbeItem] | None = None,
    config: ProbeConfig | None = None,
) -> list[Feedback]:
    """Measure and return one `example_utility` Feedback per example (source "probe")."""
    cfg = config or ProbeConfig()
    return GradientProbe(model_dir, cfg).measure(examples, heldout).feedback(cfg.source)
