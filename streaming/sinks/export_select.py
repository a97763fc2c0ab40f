"""Which stored examples an export takes: the filters of `ExportConfig` (family, intent, weights version,
creation time, minimum reward). Each example left out is counted under the first filter it fails."""

from __future__ import annotations

from core.records import Example
from streaming.sinks.exports_config import BASE_WEIGHTS, ExportConfig


def filtered_by(example: Example, config: ExportConfig) -> str | None:
    """The name of the first filter that leaves `example` out, or None when it is selected."""
    if config.task_families is not None and example.task_family not in config.task_families:
        return "task_family"
    asked = example.intent_ids or [example.intent_id or ""]  # an example shared by intents matches each
    if config.intent_ids is not None and not set(asked) & set(config.intent_ids):
        return "intent"
    version = example.weights_version or BASE_WEIGHTS
    if config.weights_versions is not None and version not in config.weights_versions:
        return "weights_version"
    if config.created_after is not None and example.created_at < config.created_after.timestamp():
        return "created_after"
    if config.created_before is not None and example.created_at >= config.created_before.timestamp():
        return "created_before"
    if config.min_reward is not None:
        value = example.rewards.get(config.reward_term)
        if value is None or value < config.min_reward:  # no such term: it cannot be shown to clear the bar
            return "min_reward"
    return None
