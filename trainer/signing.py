"""Ed25519 signatures of model-store files: the trainer signs, workers verify.

What is signed is the exact bytes of a file in the store (a version's `manifest.json`, an announcement
`updates/<seq>.json`); the signature is stored beside it as `<name>.sig` (base64). A manifest names the
sha256 of every file of its version, so its signature covers the weights; an announcement carries its
own store sequence number, so a signed announcement cannot be replayed under another number.

    python -m trainer.signing --out DIR    # writes DIR/model-signing.pem (private) and DIR/model-verify.pem
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trainer.signing_config import SigningConfig
from trainer.weights import WeightsError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# `cryptography` is imported where a key is used, so a store without keys needs no crypto library
SIG_SUFFIX = ".sig"
_MAX_SIG_BYTES = 1024


@dataclass(frozen=True)
class UpdateKeys:
    """The trainer's signing key and/or a worker's verify key; either may be absent."""

    signing: Ed25519PrivateKey | None = None
    verify: Ed25519PublicKey | None = None

    @classmethod
    def from_config(cls, config: SigningConfig) -> UpdateKeys:
        signing: Ed25519PrivateKey | None = None
        verify: Ed25519PublicKey | None = None
        if config.model_signing_key_file is not None:
            signing = _load(config.model_signing_key_file, private=True)  # type: ignore[assignment]
        if config.model_verify_key_file is not None:
            verify = _load(config.model_verify_key_file, private=False)  # type: ignore[assignment]
        return cls(signing, verify)

    def sign(self, data: bytes) -> bytes | None:
        """The base64 signature of `data`, or None without a signing key."""
        return None if self.signing is None else base64.b64encode(self.signing.sign(data))

    def check(self, data: bytes, signature: bytes | None, what: str) -> None:
        """Raise WeightsError (unsigned_update / bad_signature) unless `signature` signs `data`; no verify
        key: nothing is checked."""
        if self.verify is None:
            return
        from cryptography.exceptions import InvalidSignature

        if signature is None:
            raise WeightsError("unsigned_update", f"{what} has no signature and a verify key is set")
        try:
            if len(signature) > _MAX_SIG_BYTES:
                raise ValueError("signature too long")
            self.verify.verify(base64.b64decode(signature.strip(), validate=True), data)
        except (InvalidSignature, ValueError, binascii.Error):
            raise WeightsError("bad_signature", f"{what}: the signature does not verify") from None


def _load(path: Path, private: bool) -> object:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    try:
        data = path.read_bytes()
        if private:
            key: object = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_pem_public_key(data)
    except (OSError, ValueError, TypeError) as exc:
        raise WeightsError("bad_key", f"{path}: {type(exc).__name__}: {exc}") from None
    expected = Ed25519PrivateKey if private else Ed25519PublicKey
    if not isinstance(key, expected):
        raise WeightsError("bad_key", f"{path} is not an Ed25519 {'private' if private else 'public'} key")
    return key


def write_keypair(out: Path) -> tuple[Path, Path]:
    """A new key pair: `out/model-signing.pem` (private, mode 0600) and `out/model-verify.pem` (public)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    out.mkdir(parents=True, exist_ok=True)
    private, public = out / "model-signing.pem", out / "model-verify.pem"
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never over an existing key
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def main() -> None:
    parser = argparse.ArgumentParser(description="Make an Ed25519 key pair for signing model updates.")
    parser.add_argument(
        "--out", type=Path, required=True, help="Folder for model-signing.pem and model-verify.pem."
    )
    private, public = write_keypair(parser.parse_args().out)
    print(f"private key (trainer, TAILOR_MODEL_SIGNING_KEY_FILE): {private}")
    print(f"public key (workers, TAILOR_MODEL_VERIFY_KEY_FILE): {public}")


if __name__ == "__main__":
    main()
