"""Which examples each training batch held, for `TailorFeedbackCallback`'s per-batch losses.

A trainer drops the id columns before the model sees a batch, and callbacks never see the batch. So the
callback, when training begins, wraps the collate function of the train dataloader it is handed: it takes
the id columns out of the rows (the model never gets them) and queues the batch's ids. Batches are trained
in the order they are collated (accelerate's loader collates one batch ahead, but yields in order; a resumed
epoch skips batches by index, before collation), and the trainer calls `on_substep_end` after every
micro-batch but a step's last and `on_step_end` after that one: so each of those events takes the next
queued batch, and at `on_step_end` `pending` holds exactly that optimizer step's examples.

Needs the ids to reach the collator (`remove_unused_columns=False`; TRL's SFT and GRPO collators ignore
columns they do not use) and the collation in this process (`dataloader_num_workers=0`, the default): with
either missing, `tracking` says why and no per-batch record is sent (eval metrics still are).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def row_ids(row: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    out: list[str] = []
    for column in columns:
        value = row.get(column)
        out += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v]
    return out


class BatchIds:
    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self.collated: deque[list[str]] = deque()  # ids of batches collated, not yet handed to the loop
        self.pending: list[str] = []  # ids of the batches handed to the loop since the last optimizer step
        self.problem: str | None = None  # why no ids are tracked, when none are

    def collate(self, inner: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
        def collate_with_ids(features: list[Any]) -> Any:
            ids: list[str] = []
            rows = []
            for row in features:
                if isinstance(row, Mapping):
                    ids += row_ids(row, self.columns)
                    row = {k: v for k, v in row.items() if k not in self.columns}
                rows.append(row)
            self.collated.append(list(dict.fromkeys(ids)))
            return inner(rows)

        return collate_with_ids

    def install(self, loader: Any, num_workers: int) -> None:
        """Wrap the collate function of `loader` (the trainer's train DataLoader, or accelerate's wrapper
        around one: its iterators collate with the wrapped loader's function) before its first pass."""
        if num_workers:
            self.problem = "dataloader_num_workers > 0 collates in other processes; set it to 0"
            return
        base = getattr(loader, "base_dataloader", loader)
        base.collate_fn = self.collate(base.collate_fn)

    def trained(self) -> None:
        """One micro-batch went through the model: its ids join the step's."""
        if self.collated:
            self.pending += self.collated.popleft()

    def take(self) -> list[str]:
        """The ids of the batches handed out since the last call (one optimizer step's, at its end)."""
        ids, self.pending = list(dict.fromkeys(self.pending)), []
        return ids
