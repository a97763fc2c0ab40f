"""The synthesis backend interface. Backends differ in how they produce candidate texts; the base
owns bounded concurrency, timing and failure counting."""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from agents.tasks.base import SynthesisContext, TaskFamily
from core.errors import TailorError

log = logging.getLogger(__name__)


class BackendUnavailable(TailorError, RuntimeError):
    """The model could not be reached after the configured retries; the caller holds the window."""


@dataclass(frozen=True)
class SynthesisJob:
    family: TaskFamily
    ctx: SynthesisContext
    n: int = 1
    images: tuple[bytes, ...] = ()  # key frames (JPEG/PNG), sent when the served model takes images


@dataclass(frozen=True)
class Generation:
    texts: list[str]
    model: str
    weights_version: str | None = None
    prompt_sha256: str | None = None
    completion_tokens: int = 0
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


class SynthesisBackend(ABC):
    name: ClassVar[str]

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._gate: asyncio.Semaphore | None = None

    async def synthesize(self, job: SynthesisJob) -> Generation:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.concurrency)
        async with self._gate:
            started = time.perf_counter()
            gen = await self.generate(job)
        return Generation(
            gen.texts,
            gen.model,
            gen.weights_version,
            gen.prompt_sha256,
            gen.completion_tokens,
            time.perf_counter() - started,
            gen.extra,
        )

    async def synthesize_many(self, jobs: list[SynthesisJob]) -> list[Generation | BaseException]:
        """All jobs at once (the server batches them), at most `concurrency` in flight."""
        return list(await asyncio.gather(*(self.synthesize(j) for j in jobs), return_exceptions=True))

    @abstractmethod
    async def generate(self, job: SynthesisJob) -> Generation:
        """`job.n` candidate texts for the job's family and context."""

    async def close(self) -> None:
        return None

    @property
    def weights_version(self) -> str | None:
        return None
