"""Local blob files, opened so that what others planted in the blob root cannot redirect or block them.

Producers share the blob root (they write claim checks there), so its contents are not trusted:
- a directory symlink planted at a hash prefix (`ab -> /elsewhere`) made `put` write outside the root;
  directories are opened one level at a time with O_NOFOLLOW, and a symlink (or a file) there is refused;
- a file planted under a hash (wrong bytes, a symlink, a FIFO) made `put` skip its write, so that content
  could never be stored; an existing file is reused only when it is a regular file with the right sha256,
  else it is replaced by rename (which replaces a symlink itself, never its target);
- a FIFO under a claim check's path blocked its reader in open() for ever; reads open with O_NOFOLLOW and
  O_NONBLOCK and take regular files only.
"""

from __future__ import annotations

import hashlib
import os
import stat
import uuid

from core.errors import TailorError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class BlobFileError(TailorError, OSError):
    """A blob path that is not what the store writes (a symlink, a FIFO, a directory); `reason` is a label."""


def read_regular(path: str, limit: int, dir_fd: int | None = None) -> bytes:
    """At most `limit` bytes of the regular file at `path` (not followed if a symlink, never blocking on a
    FIFO or device). FileNotFoundError passes through; other refusals are BlobFileError(blob_unreadable)."""
    fd = os.open(path, _READ_FLAGS, dir_fd=dir_fd)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise BlobFileError(
                "blob_unreadable", f"{path[-300:]} is not a regular file ({stat.filemode(mode)})"
            )
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(limit)
    finally:
        os.close(fd)


def _holds(dir_fd: int, name: str, digest: str) -> bool:
    """Whether `name` is a regular file whose bytes hash to `digest` (symlinks and FIFOs are not); if it is,
    its modification time is set to now: retention (core.blob_retention) ages blobs by it, and content put
    again is live. A file whose time cannot be set (another owner's, read-only) is not reused: the caller
    writes a fresh one, which has a fresh time."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError:  # missing, a symlink (ELOOP), unreadable: write it afresh
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        os.set_blocking(fd, True)
        sha = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            sha.update(chunk)
        if sha.hexdigest() != digest:
            return False
        try:
            os.utime(fd)
        except OSError:
            return False
        return True
    finally:
        os.close(fd)


def put_local(root: str, subdir: str, name: str, data: bytes, digest: str) -> None:
    """Store `data` (sha256 `digest`) as `root/subdir/name`, reusing a file there only if it holds them."""
    os.makedirs(root, exist_ok=True)  # the configured root itself may be a link (an operator's choice)
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            os.mkdir(subdir, dir_fd=root_fd)
        except FileExistsError:
            pass
        try:
            dir_fd = os.open(subdir, _DIR_FLAGS, dir_fd=root_fd)
        except OSError as exc:  # ELOOP: a symlink; ENOTDIR: a file in the directory's place
            raise BlobFileError(
                "blob_path_not_a_directory", f"{root}/{subdir} is not a plain directory: {exc.strerror}"
            ) from None
        try:
            if _holds(dir_fd, name, digest):
                return
            # a temporary of its own: two threads or workers storing the same content at once must not move
            # each other's file away; the last rename wins, and both wrote the same bytes
            tmp = f"{name}.{uuid.uuid4().hex}.tmp"
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=dir_fd
            )
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            try:
                os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError as exc:  # a directory planted under the blob's name
                os.unlink(tmp, dir_fd=dir_fd)
                raise BlobFileError("blob_unwritable", f"{root}/{subdir}/{name}: {exc.strerror}") from None
        finally:
            os.close(dir_fd)
    finally:
        os.close(root_fd)
