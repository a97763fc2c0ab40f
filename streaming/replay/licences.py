"""Stamp each replayed raw record with its recording's licence, so it travels with the window into the
anchor set, the example and its Parquet row (and the dataset card lists it)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from core.records import TailorRecord
from streaming.replay.licences_config import LicenceConfig


def licence_for(source: str | None, config: LicenceConfig) -> str | None:
    if config.licence:
        return config.licence
    if not source:
        return None
    return next((lic for glob, lic in config.known.items() if fnmatchcase(source, glob)), None)


def with_licence(record: TailorRecord, config: LicenceConfig) -> TailorRecord:
    """The record with its licence set (a licence the reader already set is kept)."""
    if getattr(record, "licence", "unset") is not None:  # set already, or a record without the field
        return record
    licence = licence_for(getattr(record, "source", None), config)
    return record.model_copy(update={"licence": licence}) if licence else record
