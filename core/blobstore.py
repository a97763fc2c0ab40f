"""Content-addressed blob store for claim-checked media and key frames, with URI policy checks.

Local directory by default; any fsspec URI otherwise. Every URI read from a record is checked
against the allowed schemes and roots before it is opened (no `file:///etc/passwd`, no `../`).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem

from core.blob_files import BlobFileError, put_local, read_regular
from core.errors import TailorError
from core.records.media import MediaRef


class UriPolicyError(TailorError, ValueError):
    """A URI outside the configured schemes or roots; `reason` is a DLQ label."""


class BlobStore:
    def __init__(
        self,
        root_uri: str,
        allowed_schemes: tuple[str, ...] = ("file",),
        extra_roots: tuple[str, ...] = (),
    ) -> None:
        self.root_uri = root_uri
        self.allowed_schemes = allowed_schemes
        self.extra_roots = extra_roots

    @staticmethod
    def for_dir(path: Path) -> BlobStore:
        return BlobStore(path.resolve().as_uri())

    def _root(self) -> str:
        return self.root_uri.rstrip("/")

    def put(
        self, data: bytes, media_type: str, width: int | None = None, height: int | None = None
    ) -> MediaRef:
        digest = hashlib.sha256(data).hexdigest()
        ext = _EXT.get(media_type, "bin")
        uri = f"{self._root()}/{digest[:2]}/{digest}.{ext}"
        fs, root = fsspec.core.url_to_fs(self._root())
        try:
            if isinstance(fs, LocalFileSystem):  # symlinks, FIFOs and planted bytes: see core.blob_files
                put_local(root, digest[:2], f"{digest}.{ext}", data, digest)
            else:
                self._put_remote(fs, f"{root}/{digest[:2]}/{digest}.{ext}", data, digest)
        except BlobFileError as exc:
            raise UriPolicyError(exc.reason, exc.detail) from None
        return MediaRef(
            media_type=media_type, uri=uri, sha256=digest, size_bytes=len(data), width=width, height=height
        )

    @staticmethod
    def _put_remote(fs: fsspec.AbstractFileSystem, path: str, data: bytes, digest: str) -> None:
        """An object store: reuse an object under the hash only if its bytes hash to it (one planted with
        other bytes would block that content for good), and refresh its time (retention ages blobs by it):
        where the store cannot touch an existing object (object stores mostly), it is written again."""
        if fs.exists(path) and hashlib.sha256(fs.cat_file(path)).hexdigest() == digest:
            try:
                fs.touch(path, truncate=False)
                return
            except (NotImplementedError, ValueError, OSError):
                pass
        fs.makedirs(posixpath.dirname(path), exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"  # its own temporary: concurrent writers of the same content
        with fs.open(tmp, "wb") as fh:
            fh.write(data)
        fs.mv(tmp, path)

    def check_uri(self, uri: str) -> str:
        """Return the normalised URI if policy allows it, else raise UriPolicyError.

        A file URI's path is taken literally, as fsspec takes it (no percent-decoding), with
        symlinks resolved; the returned `file://` URI names exactly the real path that was checked.
        """
        if "\x00" in uri:
            raise UriPolicyError("uri_invalid", "URI contains a NUL byte")
        try:
            parts = urlsplit(uri)
        except ValueError as exc:
            raise UriPolicyError("uri_invalid", f"{uri[:200]!r}: {exc}") from None
        scheme = parts.scheme or "file"
        if scheme not in self.allowed_schemes:
            raise UriPolicyError("uri_scheme_not_allowed", f"scheme {scheme!r} not in {self.allowed_schemes}")
        if ".." in parts.path.split("/") or ".." in unquote(parts.path).split("/"):
            raise UriPolicyError("uri_path_traversal", f"{uri[:200]!r} contains '..'")
        if scheme == "file":
            real = os.path.realpath(posixpath.normpath(parts.path))
            root_paths = (*_local_roots(self._root()), *(os.path.realpath(r) for r in self.extra_roots))
            if not any(real == r or real.startswith(r.rstrip("/") + "/") for r in root_paths):
                raise UriPolicyError("uri_outside_roots", f"{uri[:200]!r} is outside the configured roots")
            return "file://" + real
        if "::" in uri:  # fsspec would read it as a chain of file systems
            raise UriPolicyError("uri_invalid", f"{uri[:200]!r} chains file systems ('::')")
        normalised = f"{scheme}://{parts.netloc}{posixpath.normpath(parts.path)}"
        root = self._root()
        if normalised != root and not normalised.startswith(root.rstrip("/") + "/"):
            raise UriPolicyError("uri_outside_roots", f"{uri[:200]!r} is outside the configured roots")
        return normalised

    def get(self, ref: MediaRef, max_bytes: int) -> bytes:
        """Bytes of a MediaRef (inline or claim check), size-capped and hash-verified."""
        if ref.data is not None:
            return ref.data
        assert ref.uri is not None
        uri = self.check_uri(ref.uri)
        if ref.size_bytes > max_bytes:
            raise UriPolicyError("blob_too_large", f"{ref.size_bytes} bytes > cap {max_bytes}")
        try:
            if uri.startswith("file://"):  # the checked real path itself, not re-parsed by fsspec
                data = read_regular(uri.removeprefix("file://"), max_bytes + 1)
            else:
                fs, path = fsspec.core.url_to_fs(uri)
                with fs.open(path, "rb") as fh:
                    data = fh.read(max_bytes + 1)
        except FileNotFoundError:
            raise UriPolicyError("blob_missing", f"{uri} not found") from None
        except BlobFileError as exc:  # a FIFO, a device or a directory where the blob should be
            raise UriPolicyError(exc.reason, exc.detail) from None
        except OSError as exc:  # a directory, a symlink loop, a name too long, no permission
            raise UriPolicyError("blob_unreadable", f"{uri[:300]}: {type(exc).__name__}") from None
        if len(data) > max_bytes:
            raise UriPolicyError("blob_too_large", f"{uri} is over {max_bytes} bytes")
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise UriPolicyError("blob_hash_mismatch", f"{uri} does not match its sha256")
        return data


def _local_roots(root_uri: str) -> tuple[str, ...]:
    """The real local path of a file root URI (taken literally, as fsspec does); none for other schemes."""
    parts = urlsplit(root_uri)
    if (parts.scheme or "file") != "file":
        return ()
    return (os.path.realpath(posixpath.normpath(parts.path)),)


_EXT = {
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
    "video/quicktime": "mov",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "application/octet-stream": "bin",
}
