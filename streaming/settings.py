"""The one settings model, read only at entrypoints.

Sources, highest first: explicit overrides (CLI options), `TAILOR_*` environment variables, a `.env` file in
the working directory (same names), a TOML config file (`tailor --config tailor.toml`, or
`TAILOR_CONFIG_FILE`; keys are the setting names without the prefix, optionally grouped in tables whose names
are only for the reader), the defaults.

Two settings are nested groups: `tasks` (the task families' `TasksConfig`) and `extractors` (the anchor
stage's expert pipelines, `ExtractorsConfig`). Their fields are named by their path with `__` between the
parts: `TAILOR_TASKS__GUI_TASK_RECONSTRUCTION__MAX_DISTRACTOR_FRAGMENTS=3` in the environment and `.env`,
`[tasks.gui_task_reconstruction]` / `max_distractor_fragments = 3` in the config file. The sources are merged
field by field (an environment variable overrides one field of a group the file sets).
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

import pydantic_settings
from pydantic import BaseModel, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from agents.anchoring_config import AnchoringConfig
from agents.anchoring_pool_config import AnchoringPoolConfig
from agents.extractors.pipelines_config import ExtractorsConfig
from agents.intents_config import IntentsConfig
from agents.synthesis.synthesis_config import SynthesisConfig
from agents.tasks.catalog_config import TasksConfig
from core.blob_retention_config import RetentionConfig
from core.heartbeat_config import HeartbeatConfig
from core.limits_config import LimitsConfig
from core.topics_config import TopicsConfig
from streaming.app_config import AppConfig
from streaming.broker_config import BrokerConfig
from streaming.executors_config import ExecutorsConfig
from streaming.kafka_config import KafkaConfig
from streaming.lag_monitor_config import LagMonitorConfig
from streaming.tenancy_config import TenancyConfig
from streaming.trainer_config import TrainerConfig
from streaming.windows_config import WindowsConfig
from trainer.signing_config import SigningConfig

ENV_PREFIX = "TAILOR_"
NESTED_DELIMITER = "__"
"""Between the parts of a nested setting's name: `TAILOR_TASKS__GUI_TASK_RECONSTRUCTION__MAX_DISTRACTOR_FRAGMENTS`."""
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
    group them for the reader), by setting name; the tables of a nested group (`[tasks.gui_task_reconstruction]`,
    `[extractors.gui.target_ocr]`) are kept nested under it. SettingsError for an unreadable file or a key named
    twice."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"config file {path}: {exc}") from None
    groups = nested_groups()
    flat: dict[str, Any] = {}
    for key, value in data.items():
        group = key.lower().removeprefix("tailor_")
        if group in groups and isinstance(value, dict):
            items: Any = [(group, value)]
        else:
            items = value.items() if isinstance(value, dict) else [(key, value)]
        for name, v in items:
            name = name.lower().removeprefix("tailor_")
            if name in flat:
                raise SettingsError(f"config file {path}: {name} is set twice")
            flat[name] = _lower_keys(v) if name in groups else v
    return flat


def _lower_keys(value: Any) -> Any:
    """A nested group's tables with lower-case keys (field names are), as the flat names are read."""
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    return value


DOTENV_FILE = Path(".env")


def dotenv_variables(path: Path = DOTENV_FILE) -> dict[str, str]:
    """The `TAILOR_*` variables of a `.env` file (other variables there belong to other tools: ignored)."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    values = dotenv_values(path, encoding="utf-8")
    return {k: v for k, v in values.items() if k.upper().startswith(ENV_PREFIX) and v is not None}


class _EnvSource(EnvSettingsSource):
    """The environment, nested names (`__`) included. A nested name that is no setting is left out here, as
    pydantic-settings leaves out a flat one: both are only warned about (`unknown_variables`)."""

    def _variables(self) -> Mapping[str, str | None]:
        return os.environ

    def _load_env_vars(self) -> Mapping[str, str | None]:
        known = known_names()
        out = {}
        for name, value in self._variables().items():
            upper = name.upper()
            if (
                upper.startswith(ENV_PREFIX)
                and NESTED_DELIMITER in upper[len(ENV_PREFIX) :]
                and upper not in known
            ):
                continue
            out[name.lower()] = value
        return out


class _DotEnvSource(_EnvSource):
    """`.env` in the working directory, below the environment, read as the environment is (an unknown
    `TAILOR_*` name there is warned about like one in the environment; other tools' variables are left alone;
    pydantic-settings' own .env source refuses them)."""

    def _variables(self) -> Mapping[str, str | None]:
        return dotenv_variables()


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
    AnchoringPoolConfig,
    ExecutorsConfig,
    SynthesisConfig,
    IntentsConfig,
    LagMonitorConfig,
    HeartbeatConfig,
    RetentionConfig,
    TrainerConfig,
    SigningConfig,
    TenancyConfig,
    BaseSettings,
):
    """All settings: every flat field is `TAILOR_<FIELD>` in the environment, every field of the nested groups
    `TAILOR_<GROUP>__<FIELD>__...` (a whole group or sub-group may also be given as one JSON object)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        frozen=True,
        extra="forbid",
        case_sensitive=False,
    )

    tasks: TasksConfig = Field(
        default_factory=TasksConfig,
        description="The task families: prompt limits, each family's own settings, the text checks.",
    )
    extractors: ExtractorsConfig = Field(
        default_factory=ExtractorsConfig,
        description="The anchor stage's expert pipelines, one group per domain (robot, gui, video).",
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
        return (
            init_settings,
            _EnvSource(settings_cls),
            _DotEnvSource(settings_cls),
            _ConfigFileSource(settings_cls),
        )


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds (`Model` or `Model | None`), or None for a plain value."""
    for a in (annotation, *get_args(annotation)):
        if get_origin(a) is None and isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def _paths(
    model: type[BaseModel], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], FieldInfo]]:
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        yield path, field
        sub = _model_of(field.annotation)
        if sub is not None:
            yield from _paths(sub, path)


@functools.cache
def _fields() -> dict[str, FieldInfo]:
    """Every setting by its variable name: the flat ones, the nested groups, their sub-groups and fields."""
    return {_env_name(*path): field for path, field in _paths(TailorSettings)}


def known_names() -> frozenset[str]:
    return frozenset(_fields())


def nested_groups() -> frozenset[str]:
    """The settings that are groups of settings (`tasks`, `extractors`)."""
    return frozenset(n for n, f in TailorSettings.model_fields.items() if _model_of(f.annotation) is not None)


def closest_name(name: str) -> str | None:
    """The known variable name closest to a misspelt one (flat or nested), or None."""
    close = difflib.get_close_matches(name.upper(), sorted(known_names()), n=1, cutoff=0.75)
    return close[0] if close else None


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = e.get("loc") or ()
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if loc:
            names = []
            for part in loc:
                if not isinstance(part, str):
                    break  # a list index or a union member: the variable is the path so far
                names.append(part)
            name = _env_name(*names)
            hint = closest_name(name) if e.get("type") == "extra_forbidden" else None
            parts.append(f"{name}: {msg}" + (f" (did you mean {hint}?)" if hint else ""))
        else:
            parts.append(_FIELD_RE.sub(lambda m: _env_name(m.group(0)), msg))
    return "invalid setting " + "; ".join(parts)


def _env_name(*path: str) -> str:
    """`TAILOR_PARTITIONS`; `TAILOR_TASKS__GUI_TASK_RECONSTRUCTION__MAX_DISTRACTOR_FRAGMENTS` for a nested path."""
    return ENV_PREFIX + NESTED_DELIMITER.join(path).upper()


_FLAT_FIELDS = [f for f in TailorSettings.model_fields if f not in nested_groups()]
_FIELD_RE = re.compile(r"\b(" + "|".join(sorted(_FLAT_FIELDS, key=len, reverse=True)) + r")\b")


def _is_structured(field: FieldInfo) -> bool:
    """Written as JSON in a variable: a list, tuple, set, mapping or group."""
    for a in (field.annotation, *get_args(field.annotation)):
        if (
            _model_of(a) is not None
            or get_origin(a) in (list, tuple, set, frozenset, dict)
            or a in (list, dict)
        ):
            return True
    return False


def _not_json(environ: Mapping[str, str]) -> list[str]:
    """The variables of `environ` for structured settings whose value is not JSON."""
    fields = _fields()
    bad = []
    for name, value in sorted(environ.items()):
        field = fields.get(name.upper())
        if field is None or not _is_structured(field):
            continue
        try:
            json.loads(value)
        except ValueError:
            bad.append(name.upper())
    return bad


def load_settings(**overrides: Any) -> TailorSettings:
    """Read settings from the environment (and explicit overrides); raise SettingsError on failure."""
    try:
        return TailorSettings(**overrides)
    except ValidationError as err:
        raise SettingsError(_describe(err)) from None
    except (
        pydantic_settings.SettingsError
    ) as err:  # a value a source could not decode (JSON of a list or group)
        bad = _not_json({**dotenv_variables(), **os.environ})
        if not bad:
            raise SettingsError(f"invalid setting: {err}") from None
        raise SettingsError(
            "invalid setting "
            + "; ".join(f"{n}: not valid JSON (a list, tuple or group is JSON)" for n in bad)
        ) from None


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """`TAILOR_*` variables of the environment that no setting reads (pydantic-settings ignores them, so a
    misspelt `TAILOR_KAFKA_BOOTSRAP` would silently leave the default): (name, the closest setting or None)."""
    env = {**dotenv_variables(), **os.environ} if environ is None else environ
    known = known_names()
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
        out.append((name, closest_name(upper)))
    return out


def effective_settings(settings: TailorSettings) -> dict[str, Any]:
    """Every setting by its variable name, as JSON values; secrets masked (`SecretStr` dumps as stars). The
    nested groups are flattened to their fields' names (`TAILOR_TASKS__PROMPT__MAX_PROMPT_ANCHORS`), each a
    variable that sets it."""
    out: dict[str, Any] = {}

    def add(model: type[BaseModel], values: dict[str, Any], path: tuple[str, ...]) -> None:
        for name, field in model.model_fields.items():
            sub = _model_of(field.annotation)
            value = values[name]
            if sub is not None and isinstance(value, dict):
                add(sub, value, (*path, name))
            else:
                out[_env_name(*path, name)] = value

    add(TailorSettings, settings.model_dump(mode="json"), ())
    return out
