"""The model store: published weights versions v1, v2, ... under one root (a local path or an fsspec URI).

Layout:

    <root>/v<N>/adapter_model.safetensors + adapter_config.json   (kind lora)
    <root>/v<N>/model.safetensors + config.json + tokenizer files  (kind full)
    <root>/v<N>/manifest.json     version, kind, base model, sha256 of every file, the weights sha256
    <root>/v<N>/manifest.json.sig Ed25519 signature of the manifest (with a signing key; trainer/signing.py)
    <root>/updates/<seq>.json     every announced ModelUpdate, in order (publications and rollbacks), with
                                  its own `seq`; `current()` is the last one (+ `<seq>.json.sig`)

`ModelUpdate.sha256` is the SHA-256 of the bytes of the one weights file: `adapter_model.safetensors`
(lora) or `model.safetensors` (full). `resolve` checks it and the sha256 of every other listed file
before returning a loadable local folder, and refuses (`WeightsError`) on any mismatch (hash_mismatch), a
file not in the manifest (unexpected_file), a pickle-format file (.bin, .pt, ... : unsafe_format) or a
weights file that is not safetensors. Versions are numbered from the highest existing one; on a local
root a version folder appears atomically (rename of a finished staging folder), so two publishers never
share a number. Remote roots assume one publisher at a time.

With a verify key (`UpdateKeys.verify`), `manifest()` and `announced()` refuse a file without a
signature (unsigned_update) or with one that does not verify (bad_signature); `announced()` takes a
ModelUpdate from the topic only as a pointer to the store's announcement of that `seq`, which must
match it (announcement_mismatch), so the topic cannot order or alter what the store announced.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import fsspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.records import ModelUpdate
from trainer.signing import SIG_SUFFIX, UpdateKeys
from trainer.store_config import StoreConfig
from trainer.weights import (
    ADAPTER_CONFIG,
    FULL_CONFIG,
    UNSAFE_SUFFIXES,
    WeightsError,
    check_safetensors,
    unsafe_weight_files,
    weights_file,
)

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_SIG = MANIFEST + SIG_SUFFIX
UPDATES = "updates"
_VERSION = re.compile(r"^v([1-9][0-9]{0,8})$")
_CHUNK = 4 << 20


class VersionManifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(description="v<N>.")
    kind: str = Field(description="lora or full.")
    base_model: str = Field(description="The base model the weights apply to.")
    weights_file: str = Field(description="The one safetensors weights file.")
    sha256: str = Field(description="sha256 of the weights file (= ModelUpdate.sha256).")
    files: dict[str, str] = Field(description="Every file of the version folder but this manifest -> sha256.")
    metrics: dict[str, float] = Field(default_factory=dict)
    trained_on: list[str] = Field(default_factory=list)
    created_at: float


def sha256_of(fh: Any) -> str:
    digest = hashlib.sha256()
    while chunk := fh.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def local_files(folder: Path, kind: str) -> list[Path]:
    """The files of a trained weights folder that get published (checked: safetensors, nothing pickled)."""
    if not folder.is_dir():
        raise WeightsError("missing_file", f"{folder} is not a folder")
    unsafe = unsafe_weight_files(folder)
    if unsafe:
        raise WeightsError(
            "unsafe_format", f"{folder} holds {unsafe[0].name}; only safetensors are published"
        )
    needed = {weights_file(kind), ADAPTER_CONFIG if kind == "lora" else FULL_CONFIG}
    missing = sorted(n for n in needed if not (folder / n).is_file())
    if missing:
        raise WeightsError("missing_file", f"{folder} lacks {', '.join(missing)}")
    check_safetensors(folder / weights_file(kind))
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST)


class ModelStore:
    def __init__(
        self, root: Path | str, config: StoreConfig | None = None, keys: UpdateKeys | None = None
    ) -> None:
        self.root = root
        self.config = config or StoreConfig()
        self.keys = keys or UpdateKeys()

    # -- locations ---------------------------------------------------------------------------------------
    def fs(self) -> tuple[Any, str]:
        root = str(Path(self.root).resolve()) if isinstance(self.root, Path) else self.root
        fs, path = fsspec.core.url_to_fs(root)
        return fs, path.rstrip("/")

    def is_local(self) -> bool:
        fs, _ = self.fs()
        return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))

    def uri(self, *parts: str) -> str:
        fs, path = self.fs()
        return str(fs.unstrip_protocol("/".join([path, *parts])))

    def versions(self) -> list[int]:
        fs, path = self.fs()
        if not fs.exists(path):
            return []
        names = (str(p).rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))
        return sorted(int(m.group(1)) for m in map(_VERSION.match, names) if m)

    # -- publishing --------------------------------------------------------------------------------------
    def publish(
        self,
        adapter_dir: Path,
        base_model: str,
        metrics: dict[str, float],
        trained_on: list[str],
        rollback_of: str | None = None,
        kind: str = "lora",
    ) -> ModelUpdate:
        """Copy a trained weights folder in as the next version and announce it."""
        files = local_files(Path(adapter_dir), kind)
        if len(files) > self.config.max_files:
            raise WeightsError("too_many_files", f"{adapter_dir} holds {len(files)} files")
        for p in files:
            if p.stat().st_size > self.config.max_file_bytes:
                raise WeightsError("file_too_large", f"{p.name} is {p.stat().st_size} bytes")
        hashes = {}
        for p in files:
            with p.open("rb") as fh:
                hashes[p.name] = sha256_of(fh)
        version = self.place(
            files,
            lambda v: VersionManifest(
                version=v,
                kind=kind,
                base_model=base_model,
                weights_file=weights_file(kind),
                sha256=hashes[weights_file(kind)],
                files=hashes,
                metrics=dict(metrics),
                trained_on=list(trained_on),
                created_at=time.time(),
            ),
        )
        manifest = self.manifest(version)
        update = self.announce(self.update_from(manifest, rollback_of))
        log.info(
            "published %s (%s, sha256 %s…) to %s", version, kind, manifest.sha256[:12], self.uri(version)
        )
        return update

    def place(self, files: list[Path], make: Any) -> str:
        """Write the files and manifest as the next free version; return its name."""
        fs, path = self.fs()
        for _ in range(100):
            version = f"v{max(self.versions(), default=0) + 1}"
            manifest = make(version).model_dump_json(indent=2).encode()
            signature = self.keys.sign(manifest)
            if self.is_local():
                staging = Path(path) / f".staging-{uuid.uuid4().hex}"
                staging.mkdir(parents=True)
                try:
                    for p in files:
                        shutil.copyfile(p, staging / p.name)
                    (staging / MANIFEST).write_bytes(manifest)
                    if signature is not None:
                        (staging / MANIFEST_SIG).write_bytes(signature)
                    os.rename(staging, Path(path) / version)  # fails if another publisher took the number
                    return version
                except OSError as exc:
                    if not (Path(path) / version).exists():
                        raise WeightsError("store_write_failed", f"{self.uri(version)}: {exc}") from None
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
            else:
                target = f"{path}/{version}"
                fs.makedirs(target, exist_ok=True)
                for p in files:
                    fs.put_file(str(p), f"{target}/{p.name}")
                fs.pipe_file(f"{target}/{MANIFEST}", manifest)
                if signature is not None:
                    fs.pipe_file(f"{target}/{MANIFEST_SIG}", signature)
                return version
        raise WeightsError("store_write_failed", "no free version number after 100 tries")

    def announce(self, update: ModelUpdate) -> ModelUpdate:
        """Write `update` as the next announcement (signed with a signing key); return it with its `seq`."""
        fs, path = self.fs()
        fs.makedirs(f"{path}/{UPDATES}", exist_ok=True)
        seq = len(self.update_names()) + 1
        local = self.is_local()
        for _ in range(100):  # exclusive create: concurrent announcers take distinct sequence numbers
            announced = update.model_copy(update={"seq": seq})
            data = announced.to_bytes()
            signature = self.keys.sign(data)
            name = f"{path}/{UPDATES}/{seq:08d}.json"
            try:
                # the signature claims the number first, so an announcement is never seen unsigned
                for target, body in ((name + SIG_SUFFIX, signature), (name, data)):
                    if body is None:
                        continue
                    if local:
                        with open(target, "xb") as fh:
                            fh.write(body)
                    else:  # remote roots: one publisher at a time
                        fs.pipe_file(target, body)
                return announced
            except FileExistsError:
                seq += 1
        raise WeightsError("store_write_failed", "no free update sequence number after 100 tries")

    def announced(self, update: ModelUpdate) -> ModelUpdate:
        """The store's announcement that `update` (from the topic) points at by its `seq`, its signature
        checked; WeightsError when it is missing, unsigned, badly signed or says something else."""
        if update.seq is None:
            if self.keys.verify is not None:
                raise WeightsError("unsigned_update", f"{update.version}: no store sequence to verify")
            return update  # an update of a trainer from before sequences: taken as it is
        fs, path = self.fs()
        target = f"{path}/{UPDATES}/{update.seq:08d}.json"
        try:
            if fs.size(target) > self.config.max_manifest_bytes:
                raise WeightsError(
                    "bad_manifest", f"{self.uri(UPDATES, f'{update.seq:08d}.json')} is too large"
                )
            data = fs.cat_file(target)
        except (FileNotFoundError, OSError) as exc:
            raise WeightsError("unknown_update", f"announcement {update.seq}: {exc}") from None
        self.keys.check(data, self.signature(target), f"announcement {update.seq}")
        try:
            stored = ModelUpdate.from_bytes(data)
        except Exception as exc:
            raise WeightsError("bad_manifest", f"announcement {update.seq}: {exc}"[:300]) from None
        if stored != update:
            raise WeightsError(
                "announcement_mismatch",
                f"update {update.version} seq {update.seq} is not what the store announced "
                f"({stored.version}, sha256 {stored.sha256[:12]}…)",
            )
        return stored

    def signature(self, target: str) -> bytes | None:
        """The signature file beside `target` (None when there is none)."""
        fs, _ = self.fs()
        try:
            if fs.size(target + SIG_SUFFIX) > 4096:
                return b"?"  # not a signature: fails verification
            return bytes(fs.cat_file(target + SIG_SUFFIX))
        except (FileNotFoundError, OSError):
            return None

    def update_from(self, manifest: VersionManifest, rollback_of: str | None) -> ModelUpdate:
        return ModelUpdate(
            version=manifest.version,
            kind=manifest.kind,  # type: ignore[arg-type]
            base_model=manifest.base_model,
            uri=self.uri(manifest.version, manifest.weights_file),
            sha256=manifest.sha256,
            metrics=manifest.metrics,
            trained_on=manifest.trained_on,
            rollback_of=rollback_of,
            created_at=time.time(),
        )

    # -- reading -----------------------------------------------------------------------------------------
    def update_names(self) -> list[str]:
        fs, path = self.fs()
        if not fs.exists(f"{path}/{UPDATES}"):
            return []
        return sorted(
            str(p).rsplit("/", 1)[-1]
            for p in fs.ls(f"{path}/{UPDATES}", detail=False)
            if str(p).endswith(".json")
        )

    def history(self) -> list[ModelUpdate]:
        """Every announced update, oldest first."""
        fs, path = self.fs()
        return [
            ModelUpdate.from_bytes(fs.cat_file(f"{path}/{UPDATES}/{name}")) for name in self.update_names()
        ]

    def current(self) -> ModelUpdate | None:
        names = self.update_names()
        if not names:
            return None
        fs, path = self.fs()
        return ModelUpdate.from_bytes(fs.cat_file(f"{path}/{UPDATES}/{names[-1]}"))

    def manifest(self, version: str) -> VersionManifest:
        if not _VERSION.match(version):
            raise WeightsError("unknown_version", f"{version!r} is not a store version (v<N>)")
        fs, path = self.fs()
        target = f"{path}/{version}/{MANIFEST}"
        try:
            if fs.size(target) > self.config.max_manifest_bytes:
                raise WeightsError("bad_manifest", f"{self.uri(version, MANIFEST)} is too large")
            raw = fs.cat_file(target)
            self.keys.check(raw, self.signature(target), f"{version}/{MANIFEST}")
            manifest = VersionManifest.model_validate_json(raw)
        except (FileNotFoundError, OSError) as exc:
            raise WeightsError("unknown_version", f"{self.uri(version)}: {exc}") from None
        except ValidationError as exc:
            raise WeightsError(
                "bad_manifest", f"{self.uri(version, MANIFEST)}: {exc.error_count()} errors"
            ) from None
        if manifest.version != version or manifest.files.get(manifest.weights_file) != manifest.sha256:
            raise WeightsError("bad_manifest", f"{self.uri(version, MANIFEST)} is inconsistent")
        return manifest

    def rollback(self, version: str) -> ModelUpdate:
        """Announce an earlier version again (verified first); `rollback_of` names the version it replaces."""
        current = self.current()
        manifest = self.manifest(version)
        update = self.update_from(manifest, current.version if current is not None else None)
        self.resolve(update)
        update = self.announce(update)
        log.warning("rolled back to %s (was %s)", version, update.rollback_of)
        return update

    # -- verification ------------------------------------------------------------------------------------
    def resolve(self, update: ModelUpdate) -> Path:
        """A local folder with the update's verified weights; WeightsError when anything does not match."""
        manifest = self.manifest(update.version)
        if update.uri != self.uri(update.version, manifest.weights_file):
            raise WeightsError(
                "uri_mismatch", f"{update.uri} is not {self.uri(update.version, manifest.weights_file)}"
            )
        if update.sha256 != manifest.sha256:
            raise WeightsError(
                "hash_mismatch",
                f"{update.version}: update says {update.sha256[:12]}…, manifest says {manifest.sha256[:12]}…",
            )
        if update.kind != manifest.kind or update.base_model != manifest.base_model:
            raise WeightsError(
                "bad_manifest",
                f"{update.version}: {update.kind} on {update.base_model!r} vs the manifest's "
                f"{manifest.kind} on {manifest.base_model!r}",
            )
        if self.is_local():
            folder = Path(self.fs()[1]) / update.version
        else:
            folder = self.download(manifest)
        self.verify(folder, manifest)
        return folder

    def download(self, manifest: VersionManifest) -> Path:
        fs, path = self.fs()
        cache = self.config.cache_dir or Path(tempfile.gettempdir()) / "tailor-model-store"
        folder = cache / f"{manifest.version}-{manifest.sha256[:16]}"
        if folder.is_dir():
            return folder  # verified by the caller like any other copy
        staging = cache / f".dl-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            for name in fs.ls(f"{path}/{manifest.version}", detail=False):
                base = str(name).rstrip("/").rsplit("/", 1)[-1]
                self.check_name(base, manifest, manifest.version)
                if fs.size(str(name)) > self.config.max_file_bytes:
                    raise WeightsError("file_too_large", f"{self.uri(manifest.version, base)}")
                fs.get_file(str(name), str(staging / base))
            os.replace(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return folder

    def check_name(self, name: str, manifest: VersionManifest, version: str) -> None:
        if name.lower().endswith(UNSAFE_SUFFIXES):
            raise WeightsError(
                "unsafe_format", f"{version}/{name} is a pickle-format file; refusing the version"
            )
        if name not in (MANIFEST, MANIFEST_SIG) and name not in manifest.files:
            raise WeightsError("unexpected_file", f"{version}/{name} is not in the manifest")

    def verify(self, folder: Path, manifest: VersionManifest) -> None:
        present = sorted(p for p in folder.rglob("*") if p.is_file())
        for p in present:
            self.check_name(p.relative_to(folder).as_posix(), manifest, manifest.version)
        for name, expected in sorted(manifest.files.items()):
            p = folder / name
            if not p.is_file():
                raise WeightsError("missing_file", f"{manifest.version}/{name}")
            if p.stat().st_size > self.config.max_file_bytes:
                raise WeightsError("file_too_large", f"{manifest.version}/{name}")
            with p.open("rb") as fh:
                actual = sha256_of(fh)
            if actual != expected:
                raise WeightsError(
                    "hash_mismatch",
                    f"{manifest.version}/{name} has sha256 {actual[:12]}…, manifest says {expected[:12]}…",
                )
        check_safetensors(folder / manifest.weights_file)
