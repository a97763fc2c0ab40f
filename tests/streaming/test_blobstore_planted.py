"""The blob store's root is shared with producers (they write claim checks there), so what is planted in it
must neither redirect a write, block a content's storage, nor hang a reader (issue 20.9b and 20.5)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from core.blobstore import BlobStore, UriPolicyError
from core.records import MediaRef
from tests.media_helpers import jpeg_bytes

DATA = jpeg_bytes(32, 24, 77)
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "blobs"
    path.mkdir()
    return path


def blob_path(root: Path) -> Path:
    return root / DIGEST[:2] / f"{DIGEST}.jpg"


def test_a_directory_symlink_at_a_hash_prefix_is_not_followed(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / DIGEST[:2])
    with pytest.raises(UriPolicyError) as info:
        BlobStore.for_dir(root).put(DATA, "image/jpeg")
    assert info.value.reason == "blob_path_not_a_directory"
    assert list(outside.iterdir()) == []  # before, the blob was written here, outside the root


def test_a_file_planted_under_a_hash_does_not_block_that_content(root: Path, tmp_path: Path) -> None:
    store = BlobStore.for_dir(root)
    blob_path(root).parent.mkdir()
    blob_path(root).write_bytes(b"planted bytes under the hash")
    ref = store.put(DATA, "image/jpeg")
    assert store.get(ref, max_bytes=1 << 20) == DATA  # before: blob_hash_mismatch for good

    victim = tmp_path / "victim"
    victim.write_bytes(b"a file outside the root")
    blob_path(root).unlink()
    os.symlink(victim, blob_path(root))  # a link under the hash: replaced, its target left alone
    ref = store.put(DATA, "image/jpeg")
    assert not blob_path(root).is_symlink() and store.get(ref, max_bytes=1 << 20) == DATA
    assert victim.read_bytes() == b"a file outside the root"

    inode = blob_path(root).stat().st_ino
    store.put(DATA, "image/jpeg")  # a file that holds the content is reused, not rewritten
    assert blob_path(root).stat().st_ino == inode


def _read_in_thread(store: BlobStore, ref: MediaRef, fifo: Path) -> tuple[bytes | Exception, float]:
    """`store.get(ref)` run in a thread; a reader still blocked after 5 s is released by opening the FIFO
    for writing once (it then reads end of file), so the test fails instead of hanging."""
    out: list[bytes | Exception] = []

    def read() -> None:
        try:
            out.append(store.get(ref, max_bytes=1 << 20))
        except Exception as exc:
            out.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(5.0)
    elapsed = time.monotonic() - started
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5.0)
    return out[0], elapsed


def test_a_fifo_in_the_blob_root_does_not_block_a_reader(root: Path) -> None:
    store = BlobStore.for_dir(root)
    fifo = root / "ab" / "planted.jpg"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    ref = MediaRef(media_type="image/jpeg", uri=fifo.as_uri(), sha256=DIGEST, size_bytes=len(DATA))
    result, elapsed = _read_in_thread(store, ref, fifo)
    assert isinstance(result, UriPolicyError) and result.reason == "blob_unreadable", result
    assert elapsed < 1.0, f"the reader was blocked {elapsed:.1f} s"

    blob_path(root).parent.mkdir()
    os.mkfifo(blob_path(root))  # a FIFO under the hash: put replaces it, and the reader gets the bytes
    ref = store.put(DATA, "image/jpeg")
    result, elapsed = _read_in_thread(store, ref, blob_path(root))
    assert result == DATA and elapsed < 1.0
