"""The downstream probe: does training a student on a batch of tailored examples help it on recordings it
never saw?

This is the measurement a downstream team makes, done in-house: a student (a fresh copy of the base model,
trainable only in its last `last_layers` decoder layers and final norm) is scored on held-out items
(prompt + reference output of windows from *other recordings*: a held-out item whose recording appears in the
batch is dropped, so the student is never scored on a recording it trained on), trained for `steps` AdamW
steps on the batch, and scored again. Per batch it reports

- `loss_before`, `loss_after`: mean completion cross-entropy (nats per token) of the held-out references;
- `accuracy_before`, `accuracy_after`: teacher-forced next-token accuracy on those completions (how many
  reference tokens the student's argmax gets right: an exact-match rate at token level, cheap on a CPU);

and publishes `loss_before - loss_after` as a `batch_metric` (`heldout_loss_drop`, higher is better) naming
the batch's example ids. The student is reset to the base weights before every batch, so batches do not
leak into each other. A grounded, well-formed batch lowers the held-out loss; broken JSON, prose or facts of
another window teach the student something the held-out references do not contain, and lower it less or
raise it.

The held-out items must not come from the benchmark's heldout recordings: the trainer learns from this
metric, and the gate's benchmark would no longer be held out (the trainer service uses dev references).
"""

from __future__ import annotations

import logging
import math
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.records import Feedback
from trainer.lm import IGNORE, Message, completion_loss, encode
from trainer.probe import ProbeError, trainable
from trainer.student_probe_config import StudentProbeConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudentItem:
    example_id: str
    prompt: list[Message]
    output: str  # the example's (or the reference's) output text
    recording: str  # the source recording (`domain:key`): held-out items of a batch's recordings are dropped


@dataclass(frozen=True)
class BatchMeasurement:
    example_ids: tuple[str, ...]
    loss_before: float
    loss_after: float
    accuracy_before: float
    accuracy_after: float
    heldout_items: int
    seconds: float

    @property
    def loss_drop(self) -> float:
        return self.loss_before - self.loss_after

    def feedback(self, config: StudentProbeConfig, created_at: float | None = None) -> Feedback:
        now = time.time() if created_at is None else created_at
        key = "|".join(self.example_ids) + f"|{now}"
        return Feedback(
            feedback_id=f"{config.source}-{uuid.uuid5(uuid.NAMESPACE_URL, key).hex[:24]}",
            kind="batch_metric",
            example_ids=list(self.example_ids),
            metric=config.metric,
            value=self.loss_drop,
            source=config.source,
            created_at=now,
        )


class StudentProbe:
    def __init__(self, model_dir: Path, config: StudentProbeConfig | None = None) -> None:
        self.model_dir = model_dir
        self.config = config or StudentProbeConfig()
        self._student: tuple[Any, Any, list[Any], list[Any]] | None = None
        self._before: dict[tuple[str, ...], tuple[float, float]] = {}  # the base student's score per held set

    def batches(self, examples: Sequence[StudentItem]) -> list[list[StudentItem]]:
        """Examples in a seeded random order, cut into batches of `batch_size` (at most `max_batches`)."""
        cfg = self.config
        ids = [e.example_id for e in examples]
        if len(set(ids)) != len(ids):
            raise ProbeError("duplicate_ids", "example ids repeat")
        order = list(examples)
        random.Random(cfg.seed).shuffle(order)
        cut = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        return cut[: cfg.max_batches]

    def measure(
        self, examples: Sequence[StudentItem], heldout: Sequence[StudentItem]
    ) -> list[BatchMeasurement]:
        """One measurement per batch of `examples` (see `batches`)."""
        if not examples:
            raise ProbeError("no_examples", "nothing to measure")
        out = []
        for batch in self.batches(examples):
            try:
                out.append(self.measure_batch(batch, heldout))
            except ProbeError as exc:
                if exc.reason != "no_heldout":
                    raise
                log.info("student probe: batch %s skipped (%s)", [b.example_id for b in batch], exc.detail)
        return out

    def measure_batch(self, batch: Sequence[StudentItem], heldout: Sequence[StudentItem]) -> BatchMeasurement:
        import torch

        cfg = self.config
        started = time.perf_counter()
        if not batch:
            raise ProbeError("no_examples", "empty batch")
        for it in [*batch, *heldout]:
            if not it.output.strip() or not it.prompt:
                raise ProbeError("empty_item", f"{it.example_id} has no output or no prompt")
        seen = {it.recording for it in batch}
        held = [h for h in heldout if h.recording not in seen][: cfg.max_heldout]
        if not held:
            raise ProbeError("no_heldout", "no held-out item comes from a recording outside the batch")
        model, tokenizer, params, base = self.student()
        with torch.no_grad():  # reset: every batch starts from the base student
            for p, b in zip(params, base, strict=True):
                p.copy_(b)
        torch.manual_seed(cfg.seed)
        held_ids = [encode(tokenizer, h.prompt, h.output, cfg.max_length) for h in held]
        train_ids = [encode(tokenizer, b.prompt, b.output, cfg.max_length) for b in batch]
        key = tuple(h.example_id for h in held)
        if key not in self._before:  # the base student scores a held set once, however many batches use it
            self._before[key] = score(model, held_ids)
        loss_before, acc_before = self._before[key]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
        model.train(True)
        for _ in range(cfg.steps):
            optimizer.zero_grad(set_to_none=True)
            for ids, labels in train_ids:  # accumulate: one sequence in memory at a time
                (completion_loss(model, ids, labels) / len(train_ids)).backward()
            optimizer.step()
        model.train(False)
        loss_after, acc_after = score(model, held_ids)
        if not (math.isfinite(loss_before) and math.isfinite(loss_after)):
            raise ProbeError("non_finite", "the student's held-out loss is not finite")
        m = BatchMeasurement(
            tuple(b.example_id for b in batch),
            loss_before,
            loss_after,
            acc_before,
            acc_after,
            len(held),
            time.perf_counter() - started,
        )
        log.info(
            "student probe: batch of %d, held-out loss %.3f -> %.3f, token accuracy %.3f -> %.3f (%d items, "
            "%.1fs)",
            len(batch),
            loss_before,
            loss_after,
            acc_before,
            acc_after,
            len(held),
            m.seconds,
        )
        return m

    def student(self) -> tuple[Any, Any, list[Any], list[Any]]:
        """The loaded student (once per probe), its trainable parameters and a copy of their base values."""
        if self._student is None:
            from agents.model_cache import load_model

            model, tokenizer = load_model(Path(self.model_dir), dtype=self.config.dtype)
            params = trainable(model, self.config.last_layers)
            self._student = (model, tokenizer, params, [p.detach().clone() for p in params])
        return self._student


def score(model: Any, items: list[tuple[list[int], list[int]]]) -> tuple[float, float]:
    """Mean per-item completion loss and mean teacher-forced token accuracy."""
    import torch

    losses, accs = [], []
    with torch.no_grad():
        for ids, labels in items:
            logits = model(input_ids=torch.tensor([ids])).logits[0, :-1, :].float()
            target = torch.tensor(labels[1:])
            mask = target != IGNORE
            losses.append(float(torch.nn.functional.cross_entropy(logits[mask], target[mask])))
            accs.append(float((logits[mask].argmax(-1) == target[mask]).float().mean()))
    return sum(losses) / len(losses), sum(accs) / len(accs)
