"""The synthesis backend interface. Backends differ in how they produce candidate texts; the base
owns bounded concurrency, timing and failure counting."""

from __future__ import annotations

import asyncio
import dataclasses
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
class WindowImage:
    """One key frame as a prompt image (agents/synthesis/frames.py makes them)."""

    frame_index: int
    data: bytes  # PNG
    width: int
    height: int


@dataclass(frozen=True)
class SynthesisJob:
    family: TaskFamily
    ctx: SynthesisContext
    n: int = 1
    # key frames, the most salient first; only a backend whose model takes images is given any
    images: tuple[WindowImage, ...] = ()


@dataclass(frozen=True)
class Generation:
    texts: list[str]
    model: str
    weights_version: str | None = None
    prompt_sha256: str | None = None
    completion_tokens: int = 0
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
    image_frames: tuple[int, ...] = ()  # frame indices of the images the model was shown (provenance)


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
        return dataclasses.replace(gen, seconds=time.perf_counter() - started)

    async def synthesize_many(self, jobs: list[SynthesisJob]) -> list[Generation | BaseException]:
        """All jobs at once (the server batches them), at most `concurrency` in flight."""
        return list(await asyncio.gather(*(self.synthesize(j) for j in jobs), return_exceptions=True))

    @abstractmethod
    async def generate(self, job: SynthesisJob) -> Generation:
        """`job.n` candidate texts for the job's family and context, first; a backend may add texts after them
        that it replaced (the vLLM backend's cut candidates, kept as rejected candidates of the group)."""

    async def takes_images(self) -> bool:
        """Whether the model behind this backend is shown key frames (a text-only model never is)."""
        return False

    async def close(self) -> None:
        return None

    @property
    def weights_version(self) -> str | None:
        return None
