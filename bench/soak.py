"""`tailor bench soak`: a steady rate of real robot and GUI steps, with a small share of corrupt and hostile
messages, into one live worker (`tailor up`) for N minutes; the worker's RSS is sampled all along.

Every hostile message is built to fail one ingest check with a known reason (bad JSON, an unsupported
schema version, a non-finite number, an over-long vector, a JPEG that is not one, a PNG whose header
claims a gigapixel screen), so the DLQ must hold exactly one letter per hostile message sent. The run
stops by itself: warm-up and drain are bounded, the steady phase lasts `minutes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import struct
import sys
import zlib
from collections import Counter
from typing import Any

from bench.soak_config import SoakConfig
from bench.soak_hostile import MixRecord, forged_update, issue20_mix
from bench.stream import broker_for, latency_samples, live_root, percentile, shared_dir_of, side_settings
from bench.stream_rig import LiveSide, StepFeed, rss_level, rss_slope
from core.records import GuiAction, GuiStep, MediaRef, RobotStep
from streaming.settings import TailorSettings

WORKER_ARGV = (sys.executable, "-m", "app.cli", "up")


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares `width` x `height` pixels."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 10)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def hostile_message(settings: TailorSettings, n: int) -> tuple[str, bytes, bytes, str]:
    """The n-th hostile message: (topic, key, value, the DLQ reason it must get). Kinds take turns."""
    key = f"hostile-{n}"
    robot, gui = settings.topic_raw_robot, settings.topic_raw_gui
    step = RobotStep(episode_id=key, step_index=0, timestamp=float(n), state=[0.0] * 7, action=[0.0] * 7)
    not_jpeg = MediaRef.inline(b"\xff\xd8 not a jpeg", "image/jpeg")
    bomb = MediaRef.inline(png_claiming(100_000, 100_000), "image/png")
    click = GuiAction(type="click", x=1, y=1)
    screen = GuiStep(session_id=key, step_index=0, timestamp=float(n), action=click, screenshot=bomb)
    nan_step = b'{"schema_version":1,"episode_id":"%s","step_index":0,"timestamp":1,"state":[1e999]}'
    kinds: list[tuple[str, bytes, str]] = [
        (robot, b"\x80\x04\x95 not json {", "invalid_json"),
        (robot, b'{"schema_version": 2, "episode_id": "%s"}' % key.encode(), "unsupported_schema_version"),
        (robot, nan_step % key.encode(), "nonfinite_value"),
        (
            robot,
            step.model_copy(update={"state": [0.0] * (settings.max_vector_len + 1)}).to_bytes(),
            "vector_too_long",
        ),
        (robot, step.model_copy(update={"cameras": {"wrist": not_jpeg}}).to_bytes(), "corrupt_media"),
        (gui, screen.to_bytes(), "resolution_too_large"),
    ]
    topic, value, reason = kinds[n % len(kinds)]
    return topic, key.encode(), value, reason


def run_soak(config: SoakConfig) -> dict[str, Any]:
    """Warm-up, `minutes` at `rate_eps` with hostile messages mixed in, drain; JSON-ready figures."""
    with live_root(config.data_dir) as root, broker_for(config) as cluster:
        settings = side_settings(config, cluster.bootstrap, root, "soak").model_copy(
            update={
                "max_window_decoded_bytes": config.worker_max_window_decoded_mb << 20,
                "window_max_key_bytes": config.worker_window_max_key_mb << 20,
            }
        )
        feed = StepFeed.load(shared_dir_of(config), settings)
        side = LiveSide(config, settings, "pipeline", WORKER_ARGV, feed)
        side.prepare()
        try:
            result = asyncio.run(_soak(config, side))
            result["broker_rss_mb"] = cluster.broker_rss_mb()
            return result
        finally:
            side.cleanup()


async def _soak(config: SoakConfig, side: LiveSide) -> dict[str, Any]:
    load_start = os.getloadavg()
    async with side.running():
        await side.warm_up()
        rss_cold = side.process.rss_mb()
        if config.settle_s > 0:
            await side.paced(config.rate_eps, config.settle_s)
        warmup_events = side.producer.sent
        rss_start_point = side.process.rss_mb()
        t0, t1, hostile, refused = await _steady(config, side)
        rss_end_point = side.process.rss_mb()
        drained_s = await side.drain()
        rss_hwm = side.process.peak_rss_mb()
        children_hwm = side.process.children_peak_rss_mb()
    col = side.collector
    series = side.rss_series + [(t0, rss_start_point), (t1, rss_end_point)]
    rss_start = rss_level(series, t0, t0 + config.rss_level_s) or rss_start_point
    rss_end = rss_level(series, t1 - config.rss_level_s, t1) or rss_end_point
    last, _first, _span = side.latencies(t0, t1)
    dlq = sum(col.dlq_reasons.values())
    return {
        "app_id": side.settings.app_id,
        "minutes": config.minutes,
        "rate_eps": config.rate_eps,
        "steady_s": round(t1 - t0, 1),
        "cpu_count": os.cpu_count(),
        "load_avg_start": [round(x, 2) for x in load_start],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "events_in": side.producer.acked,
        "send_failures": side.producer.failed,
        "warmup_events": warmup_events,
        "hostile_sent": sum(hostile.values()),
        "hostile_by_reason": dict(sorted(hostile.items())),
        "mix_rounds": config.mix_rounds,
        "hostile_misfiled": misfiled(refused, col.letters),
        "letters_by_stage": dict(sorted(Counter(f"{st}:{r}" for st, r, *_ in col.letters).items())),
        "duplicate_anchor_spans": len(col.anchors)
        - len({(a.topic, a.partition, a.first_offset) for a in col.anchors}),
        "events_out": len(col.examples) + len(col.anchors) + dlq,
        "examples": len(col.examples),
        "anchors": len(col.anchors),
        "rejected": col.rejected,
        "dlq": dlq,
        "dlq_by_reason": dict(sorted(col.dlq_reasons.items())),
        "events_processed": col.processed,
        "drained": side.drained,
        "capped": side.capped,
        "drain_s": round(drained_s, 2),
        "latency_examples": len(last),
        "latency_p50_ms": percentile(last, 50),
        "latency_p95_ms": percentile(last, 95),
        "anchor_latency_p95_ms": percentile(side.latencies(t0, t1, col.anchors)[0], 95),
        "latency_samples_ms": latency_samples(last),
        "latency_p95_by_minute_ms": [
            percentile(side.latencies(t0 + 60 * m, min(t0 + 60 * (m + 1), t1))[0], 95)
            for m in range(math.ceil((t1 - t0) / 60))
        ],
        "settle_s": config.settle_s,
        "rss_cold_mb": rss_cold,
        "rss_level_s": config.rss_level_s,
        "rss_start_mb": rss_start,
        "rss_end_mb": rss_end,
        "rss_start_point_mb": rss_start_point,
        "rss_end_point_mb": rss_end_point,
        "rss_peak_mb": max([mb for _t, mb in series]),
        "rss_hwm_mb": rss_hwm,
        "rss_limit_mb": config.rss_limit_mb,
        "decoder_rss_hwm_mb": children_hwm,
        "decoder_rss_limit_mb": config.decoder_rss_limit_mb,
        "rss_growth_pct": round(100.0 * (rss_end - rss_start) / max(rss_start, 1e-9), 2),
        "rss_growth_point_pct": round(
            100.0 * (rss_end_point - rss_start_point) / max(rss_start_point, 1e-9), 2
        ),
        "rss_slope_mb_per_min": rss_slope([(t - t0, mb) for t, mb in side.rss_series if t >= t0]),
        "rss_series": [[round(t - t0, 1), mb] for t, mb in side.rss_series],
    }


Where = tuple[str, int, int]  # source topic, partition, offset


def misfiled(refused: list[tuple[Where, str]], letters: list[tuple[str, str, str, int, int]]) -> list[str]:
    """Every refused message must have exactly one letter, at its source offset, with its reason; and every
    letter must be one of them. What is not so, one line each (empty when all is well)."""
    expected = dict(refused)
    got: dict[Where, list[str]] = {}
    for _stage, reason, topic, partition, offset in letters:
        got.setdefault((topic, partition, offset), []).append(reason)
    out = [f"{w}: expected {r}, got {got.get(w, [])}" for w, r in expected.items() if got.get(w) != [r]]
    out += [f"{w}: unexpected letter {rs}" for w, rs in got.items() if w not in expected]
    return sorted(out)


async def _steady(
    config: SoakConfig, side: LiveSide
) -> tuple[float, float, Counter[str], list[tuple[Where, str]]]:
    """Paced sends for `minutes`, every k-th message hostile and issue 20's mix half-way between the first
    ones; the phase's times, the refused messages sent by reason, and where each refused one went."""
    every = round(1 / config.hostile_fraction) if config.hostile_fraction > 0 else 0
    hostile: Counter[str] = Counter()
    acked: list[tuple[asyncio.Future[Any], str]] = []
    refused: list[tuple[Where, str]] = []
    s = side.settings
    mix: list[MixRecord] = []
    for n in range(config.mix_rounds):
        mix += issue20_mix(
            s,
            n,
            text_chars=config.mix_text_chars,
            png_steps=config.mix_png_steps,
            text_steps=config.mix_text_steps,
        )
        where = await side.producer.send_side(
            s.topic_model_updates, f"forged-{n}".encode(), forged_update(n).to_bytes()
        )
        refused.append(((s.topic_model_updates, *where), "unsupported_backend"))
        hostile["unsupported_backend"] += 1
    mix.reverse()

    async def send(i: int) -> None:
        reason: str | None
        if every and i % every == every - 1:
            topic, key, value, reason = hostile_message(side.settings, i // every)
        elif mix and (not every or i % every == every // 2 or i % every == 0):
            m = mix.pop()
            topic, key, value, reason = m.topic, m.key, m.value, m.reason
        else:
            await side.send_next()
            return
        fut = await side.producer.send(topic, key, value)
        if reason is not None:
            hostile[reason] += 1
            acked.append((fut, reason))

    t0, t1 = await side.paced(config.rate_eps, config.minutes * 60, send)
    await side.producer.flush()
    for fut, reason in acked:
        with contextlib.suppress(Exception):  # a failed send shows in send_failures
            meta = fut.result()
            refused.append(((meta.topic, meta.partition, meta.offset), reason))
    return t0, t1, hostile, refused
