"""The synthesis stage on the Faust app: anchors × active intents → backend → validated examples.

Batches of anchor sets are synthesised together so the model server batches the requests. When the
model is unavailable the batch waits and retries (backpressure: nothing is acknowledged, so nothing
is lost), unless `TAILOR_SYNTH_FALLBACK_RULES` is set. An anchor set that cannot be read, or a job that
fails (a bug in a family's prompt, parser or validator), goes down the failure path every stage shares: the
anchor set is dead-lettered for that job and the other jobs of the batch are still emitted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust

from agents.synthesis.base import BackendUnavailable, SynthesisBackend, WindowImage
from agents.synthesis.frames import FrameUnavailable, load_images
from agents.synthesis.rules_backend import RulesBackend
from agents.synthesis_step import StepResult, merge_intents, synthesize_step
from agents.tasks.base import SynthesisContext, TaskFamily
from core.blobstore import BlobStore
from core.dlq import SourcePosition
from core.metrics import TailorMetrics
from core.records import AnchorSet, FamilySkip
from streaming.distractors import DistractorPool
from streaming.executors import in_stage
from streaming.intent_book import IntentBook, watch_intents
from streaming.settings import TailorSettings
from streaming.stage import DeadLetterSink, Source, Stage
from streaming.topic_reader import read_range_async

log = logging.getLogger(__name__)

DISTRACTORS = 8  # other sessions' windows a reconstruction prompt may draw fragments from
DISTRACTOR_LOOKBACK = 64  # ... found among this many messages before the window's own on its partition
IMAGE_CACHE = 64  # windows whose prompt images are kept (a batch's jobs of one window share them)


class SynthesisStage(Stage):
    refusals = (FrameUnavailable,)  # a key frame the model should see is not in the frame store

    def __init__(
        self,
        settings: TailorSettings,
        backend: SynthesisBackend,
        families: dict[str, TaskFamily],
        book: IntentBook,
        metrics: TailorMetrics,
        dlq: DeadLetterSink,
        publish: Any,
        pool: DistractorPool | None = None,
        frames: BlobStore | None = None,
    ) -> None:
        super().__init__(metrics, dlq, settings.worker_id, settings.dlq_payload_bytes)
        self.settings = settings
        self.backend = backend
        self.families = families
        self.book = book
        self.publish = publish
        # without a broker to read back from (a benchmark, a test), the history of this process only
        self.pool = pool or DistractorPool(DISTRACTORS, DISTRACTOR_LOOKBACK, None, settings.max_message_bytes)
        self.fallback = RulesBackend()
        self.frames = frames  # the frame store key-frame images come from (None: prompts without images)
        self.images: dict[str, asyncio.Task[tuple[WindowImage, ...]]] = {}  # by window: its jobs share them

    @property
    def name(self) -> str:
        return "synthesis"

    def jobs(
        self,
        anchors: AnchorSet,
        distractors: tuple[AnchorSet, ...],
        skips: list[FamilySkip] | None = None,
    ) -> list[tuple[TaskFamily, SynthesisContext]]:
        """The window's synthesis jobs. A family that gets nothing from the window is not silent: it is
        counted by reason, and (given `skips`) noted once per family with every intent that asked."""
        jobs = []
        skipped: dict[str, tuple[TaskFamily, list[str]]] = {}  # family -> (family, the intents that asked)
        for spec in self.book.specs_for(anchors.domain):
            family = self.families.get(spec.task_family)
            if family is None or anchors.domain not in family.domains:
                continue
            ctx = SynthesisContext(anchors, spec, distractors)
            if family.rule_output(ctx) is None:  # the window lacks what this family is built on
                asked = skipped.setdefault(family.name, (family, []))[1]
                if spec.intent_id and spec.intent_id not in asked:
                    asked.append(spec.intent_id)
                continue
            jobs.append((family, ctx))
        for family, asked in skipped.values():
            reason, detail = family.lacks
            self.metrics.family_skips.labels(family.name, reason).inc()
            if skips is not None:
                skips.append(
                    FamilySkip(
                        window_id=anchors.window_id,
                        domain=anchors.domain,
                        task_family=family.name,
                        intent_ids=asked,
                        reason=reason,
                        detail=detail,
                        worker=self.settings.worker_id,
                        created_at=time.time(),
                    )
                )
        cap = self.settings.intents_max_jobs_per_window
        if len(jobs) > cap:  # the oldest intents' jobs stay: later intents cannot push them out
            log.warning(
                "window %s: %d synthesis jobs, %d over the cap", anchors.window_id, len(jobs), len(jobs) - cap
            )
            self.metrics.stage_dropped.labels(self.name, "intent_jobs_cap").inc(len(jobs) - cap)
        return jobs[:cap]

    async def window_images(self, ctx: SynthesisContext) -> tuple[WindowImage, ...]:
        """The window's key frames as prompt images when the model takes images, else none."""
        s = self.settings
        if self.frames is None or s.synth_max_images == 0 or not await self.backend.takes_images():
            return ()
        window = ctx.anchors.window_id
        if window not in self.images:
            while len(self.images) >= IMAGE_CACHE:  # the oldest window's images go first
                self.images.pop(next(iter(self.images)))
            work = in_stage(
                "synthesis",
                load_images,
                ctx.anchors,
                self.frames,
                s.synth_max_images,
                s.synth_image_max_side,
                s,
            )
            self.images[window] = asyncio.ensure_future(work)
        return await asyncio.shield(self.images[window])

    async def run_job(self, family: TaskFamily, ctx: SynthesisContext) -> StepResult:
        n = self.settings.synth_candidates
        backend = self.backend
        images = await self.window_images(ctx)
        while True:
            try:
                result = await synthesize_step(
                    backend, family, ctx, n, images if backend is self.backend else ()
                )
            except BackendUnavailable as exc:
                self.metrics.synthesis_errors.labels(backend.name, exc.reason).inc()
                if exc.reason == "bad_request" or self.settings.synth_fallback_rules:
                    backend = self.fallback
                    continue
                log.warning("model unavailable (%s); holding window %s", exc.detail, ctx.anchors.window_id)
                await asyncio.sleep(self.settings.synth_unavailable_backoff_s)
                continue
            self.metrics.synthesis_seconds.labels(backend.name).observe(result.generation.seconds)
            self.metrics.synthesis_tokens.labels(backend.name).inc(result.generation.completion_tokens)
            self.metrics.synthesis_images.labels(backend.name).inc(len(result.generation.image_frames))
            self.metrics.synthesis_loop_retries.labels(backend.name).inc(
                result.generation.extra.get("loop_retried", 0.0)
            )
            return result

    async def handle_batch(self, events: list[Any]) -> None:
        work: list[tuple[TaskFamily, SynthesisContext, Source]] = []
        for event in events:
            msg = event.message
            source = Source(SourcePosition(msg.topic, msg.partition, msg.offset), event.key, event.value)
            jobs = await self.guarded(self.jobs_of(event.value, source.pos), source)
            work.extend((family, ctx, source) for family, ctx in jobs or ())
        if not work:
            return
        # each job's failure goes down the failure path inside its own task: gather never sees it, so it
        # cannot take the batch's other jobs (or the agent) with it
        results = await asyncio.gather(
            *(
                self.guarded(
                    self.run_job(family, ctx), source, about=f"{family.name} on {ctx.anchors.window_id}"
                )
                for family, ctx, source in work
            )
        )
        done = [
            (family, ctx, r) for (family, ctx, _source), r in zip(work, results, strict=True) if r is not None
        ]
        # intents that map to one family get one example of the same content, naming them all
        for (family, ctx, _), result in zip(done, merge_intents([r for _, _, r in done]), strict=True):
            await self.emit(family, ctx, result)

    async def jobs_of(
        self, value: bytes | None, pos: SourcePosition
    ) -> list[tuple[TaskFamily, SynthesisContext]]:
        """One anchors message → its synthesis jobs (RecordError when it is not an anchor set)."""
        anchors = AnchorSet.from_bytes(value, max_bytes=self.settings.max_message_bytes)
        self.metrics.records_in.labels(pos.topic).inc()
        skips: list[FamilySkip] = []
        jobs = self.jobs(anchors, await self.pool.before(pos, anchors, len(value or b"")), skips)
        for note in skips:
            await self.publish(self.settings.topic_skips, note.window_id, note.to_bytes())
        return jobs

    async def emit(self, family: TaskFamily, ctx: SynthesisContext, result: StepResult) -> None:
        m = self.metrics
        for ex in result.accepted:
            await self.publish(self.settings.topic_examples, ex.example_id, ex.to_bytes())
            for term, value in ex.rewards.items():
                if term.startswith("r_"):
                    m.reward.labels(family.name, term).observe(value)
        for rej in result.rejected:
            await self.publish(self.settings.topic_rejected, rej.example_id, rej.to_bytes())
            for reason in rej.reasons:
                m.validator_failures.labels(family.name, reason).inc()
        m.examples.labels(family.name, "accepted").inc(len(result.accepted))
        m.examples.labels(family.name, "rejected").inc(len(result.rejected))
        if result.duplicates:
            m.examples.labels(family.name, "duplicate").inc(result.duplicates)
        if result.merged:
            m.examples.labels(family.name, "merged").inc(result.merged)
        self.book.count(
            ctx.spec, len(result.accepted) + result.merged
        )  # a shared example counts for each intent

    async def dead_letter(
        self, reason: str, detail: str, pos: SourcePosition, key: bytes | None, value: bytes | None
    ) -> None:
        """A refusal found beside the anchors stream (a bad intent, a refused model update), on the same path."""
        await self.fail(reason, detail, Source(pos, key, value))


def register_synthesis_stage(
    app: faust.App,
    settings: TailorSettings,
    backend: SynthesisBackend,
    families: dict[str, TaskFamily],
    book: IntentBook,
    metrics: TailorMetrics,
    dlq: DeadLetterSink,
) -> SynthesisStage:
    topics: dict[str, Any] = {}  # one Faust topic object per name, not one per message

    async def publish(topic: str, key: str, value: bytes) -> None:
        if topic not in topics:
            topics[topic] = app.topic(topic, key_serializer="raw", value_serializer="raw")
        await topics[topic].send(key=key.encode(), value=value)
        metrics.records_out.labels(topic).inc()

    async def read_back(topic: str, partition: int, start: int, end: int) -> list[tuple[int, bytes | None]]:
        # a broker that cannot answer holds the window, as an unavailable model does: choosing distractors
        # from a partial history would make this window's example differ from the one a redelivery makes
        while True:
            try:
                return await read_range_async(settings, topic, partition, start, end)
            except Exception as exc:  # any client failure is the broker's
                log.warning("distractor history of %s/%d unreadable (%s); holding", topic, partition, exc)
                await asyncio.sleep(settings.synth_unavailable_backoff_s)

    pool = DistractorPool(DISTRACTORS, DISTRACTOR_LOOKBACK, read_back, settings.max_message_bytes)
    from streaming.anchor_stage import frame_store

    stage = SynthesisStage(
        settings, backend, families, book, metrics, dlq, publish, pool, frame_store(settings)
    )
    intents_ready = asyncio.Event()

    async def intent_bad(
        reason: str, detail: str, pos: SourcePosition, key: bytes | None, value: bytes | None
    ) -> None:
        await stage.dead_letter(reason, detail, pos, key, value)

    @app.task
    async def follow_intents() -> None:
        await watch_intents(settings, book, intent_bad, intents_ready)

    anchors = app.topic(settings.topic_anchors, key_serializer="raw", value_serializer="raw")

    @app.agent(anchors, name="tailor.synthesis")
    async def synthesise(stream: Any) -> None:
        async for events in stream.take_events(
            settings.synth_batch_size, within=settings.synth_batch_window_s
        ):
            if not intents_ready.is_set():  # do not judge windows against an empty intent book
                await intents_ready.wait()
            await stage.handle_batch(list(events))

    return stage
