"""The one settings model, read only at entrypoints.

Sources, highest first: explicit overrides (CLI options), `TAILOR_*` environment variables, a `.env` file in
the working directory (same names), a TOML config file (`tailor --config tailor.toml`, or
`TAILOR_CONFIG_FILE`; keys are the setting names without the prefix, optionally grouped in tables whose names
are only for the reader), the defaults.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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
CONFIG_FILE_VARIABLE = "TAILOR_CONFIG_FILE"
"""The TOML config file (`tailor --config` sets it, so child processes such as the demo's worker read it too)."""
OTHER_VARIABLES = (
    "TAILOR_TANSU_LOG",
    "TAILOR_VLLM_FLAVOR",
    "TAILOR_TEST_KAFKA_BOOTSTRAP",
    CONFIG_FILE_VARIABLE,
)
"""`TAILOR_*` variables that are not settings: read by the broker launcher, the vLLM env script, the tests,
and the config file's path."""


class SettingsError(ValueError):
    """A bad or missing setting; its message is one line naming the setting."""


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings of a TOML file: top-level keys and the keys of its tables (one level: `[kafka]` etc. only
    group them for the reader), by setting name; SettingsError for an unreadable file or a key named twice."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"config file {path}: {exc}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        items = value.items() if isinstance(value, dict) else [(key, value)]
        for name, v in items:
            name = name.lower().removeprefix("tailor_")
            if name in flat:
                raise SettingsError(f"config file {path}: {name} is set twice")
            flat[name] = v
    return flat


DOTENV_FILE = Path(".env")


def dotenv_variables(path: Path = DOTENV_FILE) -> dict[str, str]:
    """The `TAILOR_*` variables of a `.env` file (other variables there belong to other tools: ignored)."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    values = dotenv_values(path, encoding="utf-8")
    return {k: v for k, v in values.items() if k.upper().startswith(ENV_PREFIX) and v is not None}


class _DotEnvSource(PydanticBaseSettingsSource):
    """`.env` in the working directory, below the environment: its settings (an unknown `TAILOR_*` name there
    is warned about like one in the environment, see `unknown_variables`)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        fields = set(TailorSettings.model_fields)
        out = {}
        for name, value in dotenv_variables().items():
            field = name[len(ENV_PREFIX) :].lower()
            if field in fields:
                out[field] = value
        return out


class _ConfigFileSource(PydanticBaseSettingsSource):
    """The TOML config file named by TAILOR_CONFIG_FILE (below the environment and .env)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get(CONFIG_FILE_VARIABLE)
        return read_config_file(Path(path)) if path else {}


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
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="forbid",
        case_sensitive=False,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # highest first; pydantic-settings' own .env source is replaced: it refuses the other tools' variables
        return init_settings, env_settings, _DotEnvSource(settings_cls), _ConfigFileSource(settings_cls)


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
    env = {**dotenv_variables(), **os.environ} if environ is None else environ
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
