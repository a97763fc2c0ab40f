"""Coverage-guided fuzz targets (atheris / libFuzzer) for the decoders and the claim-check resolver.

Run as a child process (libFuzzer exits the process when it is done):

    python -m tests.streaming.atheris_targets records|image|video|uri CORPUS_DIR -runs=N [libFuzzer flags]

Any exception other than the labelled RecordError / UriPolicyError is a crash; -timeout and -rss_limit_mb
turn a hang or a memory blow-up into a failure too. Only the project's own modules are instrumented.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable

import atheris

with atheris.instrument_imports(include=["streaming"]):
    from core.blobstore import BlobStore, UriPolicyError
    from core.limits_config import LimitsConfig
    from core.media_probe import probe_image, probe_video
    from core.records import Feedback, GuiStep, Intent, ModelUpdate, RecordError, RobotStep, VideoSegment

from tests.streaming.fuzz_strategies import RECORD_REASONS

LIMITS = LimitsConfig()
TYPES = (VideoSegment, GuiStep, RobotStep, Feedback, Intent, ModelUpdate)
MEDIA_REASONS = {
    "empty_media",
    "no_video_stream",
    "corrupt_media",
    "resolution_too_large",
    "duration_too_long",
    "unsupported_codec",
    "unsupported_container",
}
URI_REASONS = {"uri_invalid", "uri_scheme_not_allowed", "uri_path_traversal", "uri_outside_roots"}
URI_PREFIXES = [
    "",
    "file://",
    "file:///etc/",
    "s3://bucket/",
    "data:,",
    "http://h/",
    "../",
    "%2e%2e/",
    "file:",
]


def _expect(reasons: set[str] | frozenset[str], fn: Callable[[], object]) -> None:
    try:
        fn()
    except (RecordError, UriPolicyError) as exc:
        if exc.reason not in reasons:
            raise AssertionError(f"unexpected reason {exc.reason!r}: {exc.detail}") from None


def records(data: bytes) -> None:
    if not data:
        return
    cls = TYPES[data[0] % len(TYPES)]
    _expect(RECORD_REASONS, lambda: cls.from_bytes(data[1:]))


def image(data: bytes) -> None:
    _expect(MEDIA_REASONS, lambda: probe_image(data, max_pixels=LIMITS.max_image_pixels))


def video(data: bytes) -> None:
    _expect(
        MEDIA_REASONS,
        lambda: probe_video(data, max_pixels=LIMITS.max_video_pixels, max_seconds=LIMITS.max_video_seconds),
    )


class _Roots:
    """A blob root with a symlink inside it that points outside."""

    def __init__(self) -> None:
        base = os.path.realpath(tempfile.mkdtemp(prefix="tailor-atheris-"))
        self.root = os.path.join(base, "root")
        os.makedirs(os.path.join(self.root, "ab"))
        os.symlink("/etc", os.path.join(self.root, "ab", "out"))
        self.store = BlobStore("file://" + self.root)


_ROOTS: _Roots | None = None


def uri(data: bytes) -> None:
    global _ROOTS
    if _ROOTS is None:
        _ROOTS = _Roots()
    fdp = atheris.FuzzedDataProvider(data)
    prefix = URI_PREFIXES[fdp.ConsumeIntInRange(0, len(URI_PREFIXES) - 1)]
    middle = _ROOTS.root + "/" if fdp.ConsumeBool() else ""
    text = prefix + middle + fdp.ConsumeUnicodeNoSurrogates(300)
    try:
        checked = _ROOTS.store.check_uri(text)
    except UriPolicyError as exc:
        if exc.reason not in URI_REASONS:
            raise AssertionError(f"unexpected reason {exc.reason!r}") from None
        return
    path = checked.removeprefix("file://")
    assert checked.startswith("file://") and os.path.realpath(path) == path, (text, checked)
    assert path == _ROOTS.root or path.startswith(_ROOTS.root + "/"), (text, checked)


TARGETS = {"records": records, "image": image, "video": video, "uri": uri}


def main() -> None:
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
