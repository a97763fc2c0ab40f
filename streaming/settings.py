"""The one settings model, read only at entrypoints (`TAILOR_*` environment variables)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.anchoring_config import AnchoringConfig
from agents.intents_config import IntentsConfig
from agents.synthesis.synthesis_config import SynthesisConfig
from core.limits_config import LimitsConfig
from core.topics_config import TopicsConfig
from streaming.app_config import AppConfig
from streaming.broker_config import BrokerConfig
from streaming.kafka_config import KafkaConfig
from streaming.lag_monitor_config import LagMonitorConfig
from streaming.trainer_config import TrainerConfig
from streaming.windows_config import WindowsConfig

ENV_PREFIX = "TAILOR_"


class TailorSettings(
    AppConfig, KafkaConfig, TopicsConfig, LimitsConfig, BrokerConfig, WindowsConfig, AnchoringConfig,
    SynthesisConfig, IntentsConfig, LagMonitorConfig, TrainerConfig, BaseSettings,
):
    """All settings, flat: every field is `TAILOR_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", case_sensitive=False
    )


class SettingsError(ValueError):
    """A bad or missing setting; its message is one line naming the setting."""


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = e.get("loc") or ()
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if loc:
            parts.append(f"{_env_name(str(loc[0]))}: {msg}")
        else:
            parts.append(_FIELD_RE.sub(lambda m: _env_name(m.group(0)), msg))
    return "invalid setting " + "; ".join(parts)


def _env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


_FIELD_RE = re.compile(r"\b(" + "|".join(sorted(TailorSettings.model_fields, key=len, reverse=True)) + r")\b")


def load_settings(**overrides: Any) -> TailorSettings:
    """Read settings from the environment (and explicit overrides); raise SettingsError on failure."""
    try:
        return TailorSettings(**overrides)
    except ValidationError as err:
        raise SettingsError(_describe(err)) from None
