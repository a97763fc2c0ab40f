"""What every `tailor` command shares: settings read once at the entrypoint (exit 2 on bad settings, with the
message), logging configured from them, and failures printed as one line (exit 1)."""

from __future__ import annotations

import sys
from typing import Any

import click

from streaming.settings import SettingsError, TailorSettings, load_settings


def settings_or_exit(**overrides: Any) -> TailorSettings:
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        click.echo(f"tailor: {exc}", err=True)
        sys.exit(2)
    from streaming.logging_setup import configure_logging

    configure_logging(
        settings.log_level, settings.log_json, settings.log_repeat_burst, settings.log_repeat_interval_s
    )
    warn_unknown_variables()
    return settings


def warn_unknown_variables() -> None:
    """One start-up warning per `TAILOR_*` variable that no setting reads, naming the closest known one."""
    import logging

    from streaming.settings import unknown_variables

    for name, close in unknown_variables():
        hint = f"; did you mean {close}?" if close else ""
        logging.getLogger("tailor.settings").warning(
            "%s is not a Tailor setting and is ignored%s", name, hint
        )


def fail(exc: Exception) -> None:
    click.echo(f"tailor: {exc}", err=True)
    sys.exit(1)


def field_help(model: type[Any], name: str) -> str:
    """A CLI option's help from the config field it sets: the field's description and its default (so a
    default is written once, in the config)."""
    field = model.model_fields[name]
    return f"{field.description} [default: {field.default}]"
