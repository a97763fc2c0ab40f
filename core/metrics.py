"""All Prometheus metrics, created in one place from a registry that tests can pass in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core.heartbeat import Heartbeat, serve_metrics_and_health

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class TailorMetrics:
    """Metric families named by Prometheus conventions (`tailor_` prefix, units, `_total`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.records_in = Counter(
            "tailor_records_in_total", "Records consumed, by topic.", ["topic"], registry=registry
        )
        self.records_out = Counter(
            "tailor_records_out_total", "Records produced, by topic.", ["topic"], registry=registry
        )
        self.dead_lettered = Counter(
            "tailor_dead_lettered_total",
            "Records sent to the dead-letter topic, by source topic, stage and reason.",
            ["topic", "stage", "reason"],
            registry=registry,
        )
        self.stage_in = Counter(
            "tailor_stage_in_total", "Items entering a pipeline stage.", ["stage"], registry=registry
        )
        self.stage_out = Counter(
            "tailor_stage_out_total", "Items leaving a pipeline stage.", ["stage"], registry=registry
        )
        self.stage_dropped = Counter(
            "tailor_stage_dropped_total",
            "Items dropped by a stage, by reason.",
            ["stage", "reason"],
            registry=registry,
        )
        self.processing_seconds = Histogram(
            "tailor_processing_seconds",
            "Time to process one record, by topic.",
            ["topic"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "tailor_consumer_lag_messages",
            "High-water mark minus the next offset to read, per partition.",
            ["topic", "partition"],
            registry=registry,
        )
        self.open_windows = Gauge(
            "tailor_open_windows",
            "Windows holding items and not yet closed, by domain.",
            ["domain"],
            registry=registry,
        )
        self.up = Gauge("tailor_up", "1 while the worker runs.", registry=registry)
        self.extraction_overruns = Counter(
            "tailor_extraction_budget_overruns_total",
            "Windows on which an expert ran past its soft time budget, by expert (the work is finished "
            "anyway, so anchors do not depend on load; a rising rate means the machine is too busy).",
            ["expert"],
            registry=registry,
        )
        # synthesis, validation, rewards, sinks
        self.synthesis_seconds = Histogram(
            "tailor_synthesis_seconds",
            "Time of one synthesis request (all candidates), by backend.",
            ["backend"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.synthesis_tokens = Counter(
            "tailor_synthesis_tokens_total",
            "Completion tokens generated, by backend.",
            ["backend"],
            registry=registry,
        )
        self.synthesis_loop_retries = Counter(
            "tailor_synthesis_loop_retries_total",
            "Candidates cut at the token budget (a loop inside a string) and asked for again, by backend.",
            ["backend"],
            registry=registry,
        )
        self.synthesis_images = Counter(
            "tailor_synthesis_images_total",
            "Key frames shown to the model as images, by backend (0 for a text-only model).",
            ["backend"],
            registry=registry,
        )
        self.synthesis_errors = Counter(
            "tailor_synthesis_errors_total",
            "Failed synthesis requests, by backend and reason.",
            ["backend", "reason"],
            registry=registry,
        )
        self.examples = Counter(
            "tailor_examples_total",
            "Candidate examples judged, by task family and result (accepted|rejected|duplicate: a repeat of "
            "another candidate of its group, not emitted|merged: accepted content another intent's job already "
            "produced for the window, emitted once with both intents in intent_ids).",
            ["task_family", "result"],
            registry=registry,
        )
        self.family_skips = Counter(
            "tailor_family_skips_total",
            "Windows a task family an intent asked for produced nothing for, by family and reason (what the "
            "window lacked, e.g. no_stall; the latest are on the skips topic and in `tailor status`).",
            ["task_family", "reason"],
            registry=registry,
        )
        self.validator_failures = Counter(
            "tailor_validator_failures_total",
            "Validator rejections, by task family and reason.",
            ["task_family", "reason"],
            registry=registry,
        )
        self.reward = Histogram(
            "tailor_reward",
            "Reward terms of judged candidates, by task family and term.",
            ["task_family", "term"],
            buckets=(0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0),
            registry=registry,
        )
        self.sink_rows = Counter(
            "tailor_sink_rows_total",
            "Rows written to the Parquet sink (duplicates skipped are not rows).",
            registry=registry,
        )
        self.sink_duplicates = Counter(
            "tailor_sink_duplicates_total",
            "Examples the Parquet sink skipped as already written.",
            registry=registry,
        )
        self.blob_pruned = Counter(
            "tailor_blob_pruned_total",
            "Files deleted by the retention sweep, by store (media: spilled raw media; frames: key frames).",
            ["store"],
            registry=registry,
        )
        self.blob_pruned_bytes = Counter(
            "tailor_blob_pruned_bytes_total",
            "Bytes deleted by the retention sweep, by store.",
            ["store"],
            registry=registry,
        )
        self.blob_prune_skipped = Counter(
            "tailor_blob_prune_skipped_total",
            "Store files the retention sweep could not judge or delete, by store and reason (no_time: the "
            "filesystem gives no time; failed: the deletion was refused).",
            ["store", "reason"],
            registry=registry,
        )
        self.trainer_rounds = Counter(
            "tailor_trainer_rounds_total",
            "Training rounds run, by method (dpo|grpo).",
            ["method"],
            registry=registry,
        )
        self.trainer_gate = Counter(
            "tailor_trainer_gate_total",
            "Gate decisions on candidate weights, by result (accepted|refused).",
            ["result"],
            registry=registry,
        )
        self.trainer_leader = Gauge(
            "tailor_trainer_leader",
            "1 while this trainer holds the lease and may run rounds; 0 on a standby.",
            registry=registry,
        )
        self.model_version = Gauge(
            "tailor_model_version_info",
            "1 for the weights version the synthesis workers use.",
            ["version"],
            registry=registry,
        )


def serve_metrics(
    registry: CollectorRegistry, host: str, port: int, heartbeat: Heartbeat | None = None
) -> int:
    """Serve /metrics and /healthz (from `heartbeat`) on host:port (port 0 picks one); return the bound port."""
    return serve_metrics_and_health(registry, host, port, heartbeat)
