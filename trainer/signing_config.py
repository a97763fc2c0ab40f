"""Settings of model-update signing: the trainer's Ed25519 private key, the workers' public key."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class SigningConfig(BaseModel):
    model_signing_key_file: Path | None = Field(
        default=None,
        description="Trainer: PEM file of its Ed25519 private key (mount it as a secret); when set, the "
        "manifest of every published version and every announcement in the model store are signed with "
        "it. Make a key pair with `python -m trainer.signing --out DIR`.",
    )
    model_verify_key_file: Path | None = Field(
        default=None,
        description="Worker: PEM file of the trainer's Ed25519 public key; when set, a model update whose "
        "announcement or manifest is unsigned (`unsigned_update`) or badly signed (`bad_signature`) is "
        "refused and dead-lettered, and the current weights stay. None: updates are not checked for a "
        "signature (only for their hashes).",
    )
