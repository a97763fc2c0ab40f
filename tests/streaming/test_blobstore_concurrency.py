"""The content-addressed blob store under concurrent writers of the same content (the same key frame in
two windows closing at once, or two workers): every put succeeds and the file holds the bytes."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from core.blobstore import BlobStore

WRITERS = 8
ROUNDS = 40


def test_same_content_put_by_many_threads_at_once(tmp_path: Path) -> None:
    store = BlobStore.for_dir(tmp_path / "frames")
    errors: list[BaseException] = []
    barrier = threading.Barrier(WRITERS)

    def writer() -> None:
        for r in range(ROUNDS):
            data = f"frame {r} ".encode() * 20_000  # new content each round, the same in every thread
            barrier.wait(timeout=30)
            try:
                ref = store.put(data, "image/jpeg")
                assert ref.sha256 == hashlib.sha256(data).hexdigest()
            except BaseException as exc:  # collected and reported below
                errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, f"{len(errors)} of {WRITERS * ROUNDS} puts failed, e.g. {errors[0]!r}"
    files = sorted(p for p in (tmp_path / "frames").rglob("*") if p.is_file())
    assert len(files) == ROUNDS and not [p for p in files if p.name.endswith(".tmp")]
    for r in range(ROUNDS):
        data = f"frame {r} ".encode() * 20_000
        ref = store.put(data, "image/jpeg")
        assert store.get(ref, len(data)) == data
