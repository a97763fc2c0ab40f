"""What the sink stage writes examples to: the Parquet dataset, and the plug-ins of the `tailor.sinks`
entry-point group enabled by `TAILOR_SINK_PLUGINS` (docs/extending.md).

The stage calls, from a worker thread: `open()` once, then per batch of examples `add(batch)` and
`flush()`; the batch's offsets are committed only after every sink's `flush` returned. A sink that
raises leaves the batch uncommitted, so it comes again (to every sink): delivery is at least once, and
a sink that must not hold duplicates skips the example ids it has (as the Parquet sink does).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from core.records import Example


class ExampleSink(ABC):
    name: ClassVar[str]

    def open(self) -> object:
        """Get ready (load state, create folders); called once before the first batch."""
        return self

    @abstractmethod
    def add(self, examples: Sequence[Example]) -> int:
        """Take a batch of accepted examples; return how many were new to this sink."""

    @abstractmethod
    def flush(self) -> object:
        """Make everything added durable; the batch is committed after this returns."""
