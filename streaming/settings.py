"""The one settings model, read only at entrypoints (`TAILOR_*` environment variables)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
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
OTHER_VARIABLES = ("TAILOR_TANSU_LOG", "TAILOR_VLLM_FLAVOR", "TAILOR_TEST_KAFKA_BOOTSTRAP")
"""`TAILOR_*` variables that are not settings: read by the broker launcher, the vLLM env script, the tests."""
OTHER_PREFIXES = ("TAILOR_GPU_",)
"""Prefixes of `TAILOR_*` variables of other tools (deploy/gpu/bench_gpu.sh)."""


class TailorSettings(
    AppConfig,
    KafkaConfig,
    TopicsConfig,
    LimitsConfig,
    BrokerConfig,
    WindowsConfig,
    AnchoringConfig,
    SynthesisConfig,
    IntentsConfig,
    LagMonitorConfig,
    TrainerConfig,
    BaseSettings,
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


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """`TAILOR_*` variables of the environment that no setting reads (pydantic-settings ignores them, so a
    misspelt `TAILOR_KAFKA_BOOTSRAP` would silently leave the default): (name, the closest setting or None)."""
    env = os.environ if environ is None else environ
    known = [_env_name(f) for f in TailorSettings.model_fields]
    out = []
    for name in sorted(env):
        upper = name.upper()
        if (
            not upper.startswith(ENV_PREFIX)
            or upper in known
            or upper in OTHER_VARIABLES
            or upper.startswith(OTHER_PREFIXES)
        ):
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.75)
        out.append((name, close[0] if close else None))
    return out


def effective_settings(settings: TailorSettings) -> dict[str, Any]:
    """Every setting by its variable name, as JSON values; secrets masked (`SecretStr` dumps as stars)."""
    return {_env_name(k): v for k, v in settings.model_dump(mode="json").items()}
