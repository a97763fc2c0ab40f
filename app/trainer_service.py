"""The learning loop on the topics: candidate groups (accepted + rejected candidates of the same window,
intent and family) and feedback in; a DPO/GRPO round; the gate on the held-out benchmark; publish to the
model store and announce on `tailor.model.updates`."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.synthesis.rules_backend import RULES_MODEL
from agents.tasks.base import SynthesisContext, TaskSpec
from agents.tasks.catalog import families
from agents.tasks.catalog_config import TasksConfig
from core.records import AnchorSet, Example, Feedback, Intent, RejectedExample
from streaming.producer import TailorProducer
from streaming.reload_stage import model_store_root
from streaming.settings import TailorSettings
from streaming.topic_reader import read_topic
from streaming.topics import ensure_topics

log = logging.getLogger(__name__)


@dataclass
class TopicSnapshot:
    anchors: dict[str, AnchorSet]
    intents: dict[str, Intent]
    accepted: list[Example]
    rejected: list[RejectedExample]
    feedback: list[Feedback]


def snapshot(settings: TailorSettings) -> TopicSnapshot:
    return TopicSnapshot(
        anchors={a.window_id: a for a in read_topic(settings, settings.topic_anchors, AnchorSet)},
        intents={i.intent_id: i for i in read_topic(settings, settings.topic_intents, Intent)},
        accepted=read_topic(settings, settings.topic_examples, Example),
        rejected=read_topic(settings, settings.topic_rejected, RejectedExample),
        feedback=read_feedback(settings),
    )


def read_feedback(settings: TailorSettings) -> list[Feedback]:
    """Every feedback record; malformed ones go to the DLQ with their reason and source offset."""
    import asyncio

    from core.dlq import SourcePosition, dead_letter
    from streaming.topic_reader import read_messages_async
    from trainer.feedback import FeedbackError, feedback_from_bytes

    good: list[Feedback] = []
    bad = []
    for msg in asyncio.run(read_messages_async(settings, settings.topic_feedback)):
        try:
            good.append(feedback_from_bytes(msg.value))
        except FeedbackError as exc:
            bad.append(
                dead_letter(
                    reason=exc.reason,
                    detail=exc.detail,
                    stage="feedback",
                    source=SourcePosition(msg.topic, msg.partition, msg.offset),
                    key=msg.key,
                    value=msg.value,
                    worker="trainer",
                    payload_cap=settings.dlq_payload_bytes,
                )
            )
    if bad:
        assert settings.kafka_bootstrap
        with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as producer:
            for letter in bad:
                producer.send(letter)
        log.warning("dead-lettered %d malformed feedback records", len(bad))
    return good


def probe(settings: TailorSettings, snap: TopicSnapshot) -> list[Feedback]:
    """The downstream probe (`probe_method`) on the latest accepted examples it has not measured yet (only a
    served model's when rounds pair only those), published to the feedback topic."""
    from trainer.probe_config import ProbeConfig
    from trainer.student_probe_config import StudentProbeConfig

    sources = {ProbeConfig().source, StudentProbeConfig().source}
    measured = {i for fb in snap.feedback if fb.source in sources for i in fb.example_ids}
    fresh = [
        e
        for e in snap.accepted
        if e.example_id not in measured and (settings.pair_sources == "all" or e.model != RULES_MODEL)
    ]
    if settings.probe_method == "student":
        from app.probe_sources import student_probe

        found = student_probe(
            settings.model_dir,
            fresh,
            snap.anchors,
            snap.intents,
            {f.name: f for f in families(settings.tasks)},
            settings.probe_examples,
        )
    else:
        found = gradient_probe(settings, snap, fresh[-settings.probe_examples :])
    if found:
        assert settings.kafka_bootstrap
        with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as producer:
            for fb in found:
                producer.send(fb)
    return found


def gradient_probe(settings: TailorSettings, snap: TopicSnapshot, accepted: list[Any]) -> list[Feedback]:
    from app.export_cli import PromptBook
    from trainer.probe import ProbeError, ProbeItem, probe_feedback

    book = PromptBook(snap.anchors, snap.intents, settings.tasks)
    items = []
    for e in accepted:
        try:
            items.append(ProbeItem(e.example_id, book.prompt_for(e), e.output_json))  # type: ignore[arg-type]
        except KeyError:
            continue
    try:
        return probe_feedback(settings.model_dir, items)
    except ProbeError as exc:
        log.info("probe skipped: %s", exc)
        return []


def candidate_groups(
    snap: TopicSnapshot, sources: str = "model", tasks: TasksConfig | None = None
) -> list[Any]:
    """Candidates of the same window, intent and family, accepted and rejected alike (rejections are
    the natural "rejected" side of a preference pair). `sources="model"` keeps only a served model's outputs
    (`TrainerConfig.pair_sources`): a pair of a rules text and a model text teaches the rules' style, not which
    of the policy's own outputs is better. `tasks`: the families' settings (`settings.tasks`)."""
    from trainer.preferences import Candidate, CandidateGroup

    def kept(model: str) -> bool:
        return sources == "all" or model != RULES_MODEL

    by_name = {f.name: f for f in families(tasks)}
    grouped: dict[tuple[str, str, str], dict[str, Candidate]] = defaultdict(dict)
    for e in snap.accepted:
        if kept(e.model):
            grouped[(e.window_id, e.intent_id or "", e.task_family)][e.example_id] = Candidate(
                e.example_id, e.output_json, e.rewards
            )
    for r in snap.rejected:
        if kept(r.model):
            grouped[(r.window_id, r.intent_id or "", r.task_family)].setdefault(
                r.example_id, Candidate(r.example_id, r.raw_output, r.rewards)
            )
    groups = []
    for (window_id, intent_id, fam), cands in grouped.items():
        anchors, family = snap.anchors.get(window_id), by_name.get(fam)
        if anchors is None or family is None or len(cands) < 2:
            continue
        intent = snap.intents.get(intent_id)
        spec = TaskSpec(fam, intent_id or None, anchors.domain, None, intent.text if intent else "")
        groups.append(CandidateGroup(family, SynthesisContext(anchors, spec), tuple(cands.values())))
    return groups


def with_group_frames(settings: TailorSettings, groups: list[Any]) -> list[Any]:
    """For a base model that takes images: each group with its window's key frames (chosen as the synthesis
    stage chooses them); groups whose frames the store no longer has are left out, and counted."""
    from agents.model_caps import takes_images

    if not takes_images(settings.model_dir):
        return groups
    import dataclasses

    from agents.synthesis.frames import FrameUnavailable, load_images
    from streaming.anchor_stage import frame_store

    store, out, missing = frame_store(settings), [], 0
    for g in groups:
        try:
            images = load_images(
                g.ctx.anchors, store, settings.synth_max_images, settings.synth_image_max_side, settings
            )
        except FrameUnavailable:
            missing += 1
            continue
        out.append(dataclasses.replace(g, images=images))
    if missing:
        log.warning(
            "train: %d candidate groups left out: their key frames are not in the frame store", missing
        )
    return out


def gate_backend(settings: TailorSettings) -> str:
    """The benchmark backend the gate uses (see TrainerConfig.gate_backend)."""
    if settings.gate_backend == "auto":
        return "vllm" if settings.vllm_url else "hf"
    if settings.gate_backend == "vllm" and not settings.vllm_url:
        raise ValueError("gate_backend=vllm needs TAILOR_VLLM_URL (a running server to load adapters into)")
    return settings.gate_backend


def quality_evaluator(settings: TailorSettings) -> Any:
    """The gate's scores: per case of the whole held-out benchmark split, `gate_metric` (s_accepted by
    default) with the weights (greedy). The gate pairs them case by case (trainer.gate)."""
    from bench.quality import run_quality_bench
    from bench.quality_config import QualityBenchConfig

    backend = gate_backend(settings)

    def evaluate(ref: Any) -> dict[str, float]:
        cfg = QualityBenchConfig(
            model_dir=ref.base_model_dir,
            weights=ref.adapter_dir,
            max_new_tokens=settings.gate_max_new_tokens,
            vllm_url=settings.vllm_url,
            vllm_model=settings.vllm_model,
            # the gate loads candidates into the same server the workers use, under the same key
            vllm_api_key=settings.vllm_api_key,
            # and decodes as they do: cut outputs are asked for again
            loop_retry_penalty=settings.synth_loop_retry_penalty,
            loop_retries=settings.synth_loop_retries,
        )
        figures = run_quality_bench(backend, "heldout", config=cfg)
        return {row["case_id"]: float(row[settings.gate_metric]) for row in figures["per_case"]}

    return evaluate


def sft_rows(settings: TailorSettings, snap: TopicSnapshot) -> list[Any]:
    """The warm start's rows: accepted examples of the topics (`sft_accepted`), the rules' answers to the
    stream's jobs (`sft_rules_teacher`) and the dev references (`sft_references`), each parsed and validated
    against its window, none from a heldout recording."""
    from agents.model_caps import takes_images
    from app.sft_sources import reference_sources, rules_sources, stream_sources
    from trainer.heldout import HeldoutRecordings
    from trainer.sft import build_sft_data

    by_name = {f.name: f for f in families(settings.tasks)}
    sources = []
    if settings.sft_accepted:
        sources += stream_sources(snap.accepted, snap.anchors, snap.intents, by_name)
    if settings.sft_rules_teacher:
        sources += rules_sources([*snap.accepted, *snap.rejected], snap.anchors, snap.intents, by_name)
    if settings.sft_references:
        sources += reference_sources(by_name)
    if takes_images(settings.model_dir):
        from app.sft_sources import with_key_frames
        from streaming.anchor_stage import frame_store

        # the benchmark's references keep only their frames' hashes: a vision model trains on stream rows
        sources, missing = with_key_frames(
            sources, frame_store(settings), settings.synth_max_images, settings.synth_image_max_side, settings
        )
        if missing:
            log.warning("sft: %d rows left out: their key frames are not in the frame store", missing)
    data = build_sft_data(sources, HeldoutRecordings.load())
    log.info("sft: %d rows (%s); dropped %s", len(data.rows), dict(data.by_origin), dict(data.dropped))
    return data.rows


def round_config(settings: TailorSettings) -> Any:
    from trainer.round_config import RoundConfig

    base = RoundConfig()
    overrides = dict(base.train.trl_overrides)
    if settings.train_method == "sft":
        if settings.sft_max_steps > 0:
            overrides["max_steps"] = settings.sft_max_steps
    else:
        overrides.update(max_steps=settings.train_max_steps, gradient_accumulation_steps=1)
    return base.model_copy(
        update={
            "method": settings.train_method,
            "gate_margin": settings.gate_margin,
            "train": base.train.model_copy(update={"trl_overrides": overrides}),
        }
    )


def run_train_once(
    settings: TailorSettings, work_dir: Path | None = None, evaluate: Any = None, may_publish: Any = None
) -> Any:
    """One round of `settings.train_method` on the topics: train, gate on the heldout split, publish and
    announce (a ModelUpdate on the model-updates topic) when the gate accepts. `evaluate`: the gate's scorer
    (default `quality_evaluator(settings)`; callers running several rounds pass one `trainer.gate.remembered`
    scorer, so the current weights, the previous round's candidate, are not generated again). `may_publish`:
    the service's lease check, asked right before publication and before the announcement."""
    from trainer.round import run_round
    from trainer.signing import UpdateKeys
    from trainer.store import ModelStore

    assert settings.kafka_bootstrap
    ensure_topics(settings, settings, settings.kafka_bootstrap, max_message_bytes=settings.max_message_bytes)
    snap = snapshot(settings)
    rows: list[Any] = []
    groups: list[Any] = []
    if settings.train_method == "sft":
        rows = sft_rows(settings, snap)
    else:
        if settings.probe_enabled and snap.accepted:
            snap.feedback.extend(probe(settings, snap))
        groups = candidate_groups(snap, settings.pair_sources, settings.tasks)
        groups = with_group_frames(settings, groups)
    log.info(
        "train (%s): %d candidate groups, %d sft rows, %d feedback records",
        settings.train_method,
        len(groups),
        len(rows),
        len(snap.feedback),
    )
    store = ModelStore(model_store_root(settings), keys=UpdateKeys.from_config(settings))
    result = run_round(
        groups,
        snap.feedback,
        base_model_dir=settings.model_dir,
        store=store,
        work_dir=work_dir or settings.data_dir / "train",
        evaluate=evaluate or quality_evaluator(settings),
        config=round_config(settings),
        sft_rows=rows,
        may_publish=may_publish,
    )
    if result.update is not None:
        with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as producer:
            producer.send(result.update)
        log.info("announced %s on %s", result.update.version, settings.topic_model_updates)
    return result


def rollback(settings: TailorSettings, version: str) -> Any:
    from trainer.signing import UpdateKeys
    from trainer.store import ModelStore

    assert settings.kafka_bootstrap
    update = ModelStore(model_store_root(settings), keys=UpdateKeys.from_config(settings)).rollback(version)
    with TailorProducer.connect(settings.kafka_bootstrap, settings, settings) as producer:
        producer.send(update)
    return update


def describe_round(result: Any) -> str:
    parts = [f"round ({result.method}): {result.status}", result.reason or ""]
    if result.reward_before is not None:
        parts.append(f"mean reward of the candidates {result.reward_before:.3f}")
    if result.sft_rows:
        parts.append(f"{result.sft_rows} validated examples")
    if result.heldout_dropped:
        parts.append(f"{result.heldout_dropped} groups from heldout recordings dropped")
    if result.bench_before is not None:
        parts.append(f"heldout benchmark current {result.bench_before:.3f}")
    if result.bench_after is not None:
        parts.append(f"candidate {result.bench_after:.3f}")
    d = result.decision
    if d is not None and d.mean_diff is not None and d.ci_low is not None and d.ci_high is not None:
        parts.append(
            f"gain {d.mean_diff:+.3f} ({d.confidence:.0%} CI {d.ci_low:+.3f}..{d.ci_high:+.3f}, "
            f"{d.cases} cases)"
        )
    if result.update is not None:
        parts.append(f"published {result.update.version} sha256 {result.update.sha256[:12]}")
    parts.append(f"{result.seconds.get('total', 0.0):.0f}s")
    return "; ".join(p for p in parts if p)


def stop_on_sigterm(stop: threading.Event) -> Callable[[int, object], None]:
    """A SIGTERM handler that raises SystemExit, so that a round in progress unwinds at once, and first sets
    `stop`: a signal that lands while a finaliser runs (an event loop's `__del__`) has its exception ignored by
    Python ("Exception ignored in ..."; seen once in a full suite, the trainer then ran on), and the flag ends
    the service's loop at its next poll instead."""

    def handler(signum: int, frame: object) -> None:
        stop.set()
        raise SystemExit(0)

    return handler


def run_trainer_service(settings: TailorSettings) -> int:
    """Poll the topics; run a round every `train_every_pairs` new candidates or `train_every_s`, while this
    process holds the trainer lease (others wait as standbys). While no adapter is published, the round is the
    supervised warm start once `sft_min_examples` accepted examples have arrived (before that, `train_method`)."""
    from prometheus_client import CollectorRegistry

    from core.metrics import TailorMetrics, serve_metrics
    from streaming.lease import trainer_lease
    from trainer.gate import remembered
    from trainer.signing import UpdateKeys
    from trainer.store import ModelStore

    registry = CollectorRegistry()
    metrics = TailorMetrics(registry)
    serve_metrics(registry, settings.metrics_host, settings.metrics_port)
    metrics.up.set(1)
    store = ModelStore(model_store_root(settings), keys=UpdateKeys.from_config(settings))
    evaluate = remembered(
        quality_evaluator(settings)
    )  # the current weights were scored as last round's candidate
    last_round, seen = 0.0, 0
    # SIGTERM (a rolling update) unwinds like Ctrl-C, so the lease is handed over at once, not after expiry
    stop = threading.Event()
    signal.signal(signal.SIGTERM, stop_on_sigterm(stop))
    lease = trainer_lease(settings).start()
    try:
        while not stop.is_set():
            if not lease.wait(settings.train_poll_s):
                metrics.trainer_leader.set(0)
                continue
            metrics.trainer_leader.set(1)
            accepted = len(read_topic(settings, settings.topic_examples, Example))
            snap_size = len(read_topic(settings, settings.topic_rejected, RejectedExample)) + accepted
            due = snap_size - seen >= settings.train_every_pairs or (
                snap_size > seen and time.time() - last_round >= settings.train_every_s
            )
            if due:
                warm = store.current() is None and accepted >= settings.sft_min_examples
                round_settings = settings.model_copy(update={"train_method": "sft"}) if warm else settings
                result = run_train_once(round_settings, evaluate=evaluate, may_publish=lease.held)
                metrics.trainer_rounds.labels(result.method).inc()
                if result.decision is not None:
                    metrics.trainer_gate.labels("accepted" if result.update else "refused").inc()
                log.info(describe_round(result))
                last_round, seen = time.time(), snap_size
            stop.wait(settings.train_poll_s)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        lease.stop()
        metrics.trainer_leader.set(0)
        metrics.up.set(0)
