"""A `transformers.TrainerCallback` (TRL's trainers take it too) that sends a downstream fine-tune's eval
metrics to `tailor.feedback` as `batch_metric` records naming the examples evaluated.

Trainers drop the columns a model does not take, so the example ids are read from the eval dataset when
the callback is made (`from_dataset`): the export's `example_id` (SFT), `chosen_id` and `rejected_id`
(preference: both examples of a pair were trained on), or `example_ids` (GRPO). Each evaluation sends one
record per numeric metric (timing and epoch counters left out); each is checked by the trainer's feedback
readers first. A send that fails (broker down, a refused value) is logged and the training goes on: a
fine-tune never stops because its feedback could not be delivered.

    from streaming.feedback_callback import TailorFeedbackCallback
    trainer = SFTTrainer(..., eval_dataset=eval_ds, callbacks=[TailorFeedbackCallback.from_dataset(eval_ds)])
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from transformers import TrainerCallback

from core.records import Feedback
from streaming.feedback_publish import FeedbackSender, make_feedback

log = logging.getLogger(__name__)

ID_COLUMNS = ("example_id", "chosen_id", "rejected_id", "example_ids")
# metrics that say how long or how far, not how well
SKIPPED_METRICS = ("runtime", "samples_per_second", "steps_per_second", "epoch")
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
        self.owned: FeedbackSender | None = None  # the sender this callback made (and closes)
        self.sent = 0
        self.failed = 0

    @classmethod
    def from_dataset(cls, dataset: Iterable[dict[str, Any]], **kwargs: Any) -> TailorFeedbackCallback:
        return cls(dataset_example_ids(dataset), **kwargs)

    def records(self, metrics: dict[str, Any], step: int, run: str) -> list[Feedback]:
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
                    example_ids=self.example_ids,
                    source=self.source,
                )
            )
        return out

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        run = self.run or str(getattr(args, "output_dir", "") or "run")
        records = self.records(metrics or {}, int(getattr(state, "global_step", 0)), run)
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
