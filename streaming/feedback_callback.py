"""A `transformers.TrainerCallback` (TRL's trainers take it too) that sends a downstream fine-tune's eval
metrics and its per-batch training losses to `tailor.feedback` as `batch_metric` records naming the examples
they were measured on.

Eval metrics: trainers drop the columns a model does not take, so the eval set's example ids are read from
the eval dataset when the callback is made (`from_dataset`): the export's `example_id` (SFT), `chosen_id`
and `rejected_id` (preference: both examples of a pair were trained on), or `example_ids` (GRPO). Each
evaluation sends one record per numeric metric (timing and epoch counters left out).

Training losses: each logged `loss` (every `logging_steps` optimizer steps; 1 gives one per batch) is sent
naming the examples of the batches it averages, which the callback learns from the train dataloader
(`streaming.feedback_batches`; needs `remove_unused_columns=False` so the ids reach the collator, which
then strips them). Each record is checked by the trainer's feedback readers first. A send that fails
(broker down, a refused value) is logged and the training goes on: a fine-tune never stops because its
feedback could not be delivered.

    from streaming.feedback_callback import TailorFeedbackCallback
    trainer = SFTTrainer(..., args=SFTConfig(..., remove_unused_columns=False), eval_dataset=eval_ds,
                         callbacks=[TailorFeedbackCallback.from_dataset(eval_ds)])
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from transformers import TrainerCallback

from core.records import Feedback
from streaming.feedback_batches import BatchIds
from streaming.feedback_publish import FeedbackSender, make_feedback

log = logging.getLogger(__name__)

ID_COLUMNS = ("example_id", "chosen_id", "rejected_id", "example_ids")
# metrics that say how long or how far, not how well
SKIPPED_METRICS = ("runtime", "samples_per_second", "steps_per_second", "epoch")
TRAIN_METRICS = ("loss",)  # what a training log says about the examples (not learning_rate, grad_norm)
Send = Callable[[Sequence[Feedback]], object]


def dataset_example_ids(rows: Iterable[dict[str, Any]], columns: Sequence[str] = ID_COLUMNS) -> list[str]:
    """The distinct example ids of an exported dataset's rows, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for column in columns:
            value = row.get(column)
            for ex_id in value if isinstance(value, list) else [value]:
                if isinstance(ex_id, str) and ex_id:
                    seen.setdefault(ex_id, None)
    return list(seen)


class TailorFeedbackCallback(TrainerCallback):
    def __init__(
        self,
        example_ids: Sequence[str],
        send: Send | None = None,
        source: str = "trl",
        run: str | None = None,
        metrics: Sequence[str] | None = None,
    ) -> None:
        """`example_ids`: the examples the eval set holds; `send`: publishes a list of records (default: a
        FeedbackSender on the settings from the environment, TAILOR_KAFKA_BOOTSTRAP etc., made on first
        use); `run`: names the run in feedback ids (default: the trainer's output_dir); `metrics`: only
        these (names as the trainer logs them, e.g. eval_loss), default every numeric one."""
        if not example_ids:
            raise ValueError("the eval set names no example ids (export with tailor export keeps them)")
        self.example_ids = list(example_ids)
        self.send_records = send
        self.source = source
        self.run = run
        self.metrics = set(metrics) if metrics is not None else None
        self.batches = BatchIds(ID_COLUMNS)
        self.since_log: list[str] = []  # examples of the optimizer steps since the last training log
        self.warned = False
        self.owned: FeedbackSender | None = None  # the sender this callback made (and closes)
        self.sent = 0
        self.failed = 0

    @classmethod
    def from_dataset(cls, dataset: Iterable[dict[str, Any]], **kwargs: Any) -> TailorFeedbackCallback:
        return cls(dataset_example_ids(dataset), **kwargs)

    def records(
        self, metrics: dict[str, Any], step: int, run: str, example_ids: Sequence[str] | None = None
    ) -> list[Feedback]:
        out = []
        for name, value in sorted(metrics.items()):
            if self.metrics is not None and name not in self.metrics:
                continue
            if any(name.endswith(s) for s in SKIPPED_METRICS) or isinstance(value, bool):
                continue
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            # one id per (run, step, metric, value): a re-sent evaluation is a re-delivery, not a new credit
            key = f"{run}|{step}|{name}|{value!r}"
            out.append(
                make_feedback(
                    feedback_id=f"{self.source}-{hashlib.sha256(key.encode()).hexdigest()[:24]}",
                    kind="batch_metric",
                    metric=name,
                    value=float(value),
                    example_ids=list(self.example_ids if example_ids is None else example_ids),
                    source=self.source,
                )
            )
        return out

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        loader = kwargs.get("train_dataloader")
        if loader is None:
            self.batches.problem = "the trainer handed the callback no train dataloader"
        elif getattr(args, "remove_unused_columns", False):
            self.batches.problem = "remove_unused_columns=True drops the id columns; set it to False"
        else:
            self.batches.install(loader, int(getattr(args, "dataloader_num_workers", 0) or 0))

    def on_substep_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.batches.trained()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.batches.trained()
        self.since_log += self.batches.take()

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        train = {k: v for k, v in (logs or {}).items() if k in TRAIN_METRICS}
        if not train:
            return
        ids, self.since_log = list(dict.fromkeys(self.since_log)), []
        if not ids:
            if not self.warned:
                why = self.batches.problem or "the training rows carry no example ids"
                log.warning("tailor feedback: training losses not sent (no batch example ids): %s", why)
                self.warned = True
            return
        self.deliver(self.records(train, int(getattr(state, "global_step", 0)), self.run_name(args), ids))

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        self.deliver(self.records(metrics or {}, int(getattr(state, "global_step", 0)), self.run_name(args)))

    def run_name(self, args: Any) -> str:
        return self.run or str(getattr(args, "output_dir", "") or "run")

    def deliver(self, records: list[Feedback]) -> None:
        if not records:
            return
        try:
            self.sender()(records)
            self.sent += len(records)
        except Exception as exc:  # refused, no broker, a Kafka error: log it and let the training go on
            self.failed += len(records)
            log.warning(
                "tailor feedback not sent (%d records): %s: %s", len(records), type(exc).__name__, exc
            )

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.owned is not None:
            self.owned.close()

    def sender(self) -> Send:
        if self.send_records is None:
            from streaming.runtime import resolve_bootstrap
            from streaming.settings import load_settings

            self.owned = FeedbackSender(resolve_bootstrap(load_settings()))
            self.send_records = self.owned.send
        return self.send_records
