"""Fuzzed claim-check URIs: only paths inside the configured roots, with allowed schemes, are ever read.

A secret file lies outside the blob root, reachable through symlinks planted inside it. Every generated
URI (traversal chains, percent-encoded dots, other schemes, NUL bytes, very long paths, fsspec chains) is
given to the resolver with the secret's real sha256, so a read outside the root would be *accepted*:
the property is that it never is, and every refusal carries a reason.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import fsspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.blobstore import BlobStore, UriPolicyError
from core.records import MediaRef

URI_REASONS = frozenset({"uri_invalid", "uri_scheme_not_allowed", "uri_path_traversal", "uri_outside_roots"})
GET_REASONS = URI_REASONS | {"blob_missing", "blob_unreadable", "blob_too_large", "blob_hash_mismatch"}
SECRET = b"the secret outside every root\n"
BLOB = b"a legitimate claim-checked blob"
FUZZ = settings(
    max_examples=300,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Layout:
    root: Path
    outside: Path
    store: BlobStore
    blob: MediaRef


def _layout(base: Path, root_name: str = "blobs") -> Layout:
    root, outside = base / root_name, base / "outside"
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret").write_bytes(SECRET)
    root.mkdir(parents=True, exist_ok=True)
    store = BlobStore.for_dir(root)
    blob = store.put(BLOB, "image/png")
    (root / "ab").mkdir(exist_ok=True)
    (root / "dir").mkdir(exist_ok=True)
    os.symlink(outside, root / "ab" / "out")  # a directory link out of the root
    os.symlink(outside / "secret", root / "link")  # a file link out of the root
    os.symlink(outside / "secret", root / "a%2520")  # named like the quoted form of "a%20"
    os.symlink(outside / "secret", root / "x")  # named like what fsspec keeps of "x::anything"
    os.symlink(root / "loop", root / "loop")  # a link to itself
    return Layout(root, outside, store, blob)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return _layout(tmp_path)


def secret_ref(uri: str) -> MediaRef:
    return MediaRef(
        media_type="image/png",
        uri=uri[:2048],
        sha256=hashlib.sha256(SECRET).hexdigest(),
        size_bytes=len(SECRET),
    )


def assert_refused_or_inside(lay: Layout, uri: str) -> str:
    """check_uri accepts only real paths inside the root; get never returns the secret. Returns the outcome."""
    try:
        checked = lay.store.check_uri(uri)
    except UriPolicyError as exc:
        assert exc.reason in URI_REASONS, (exc.reason, exc.detail)
        assert exc.detail
        outcome = exc.reason
    else:
        assert checked.startswith("file://"), checked
        path = checked.removeprefix("file://")
        assert os.path.realpath(path) == path, (uri, checked)
        assert Path(path).is_relative_to(lay.root.resolve()), (uri, checked)
        outcome = "accepted"
    if len(uri) <= 2048:
        try:
            data = lay.store.get(secret_ref(uri), max_bytes=1 << 20)
        except UriPolicyError as exc:
            assert exc.reason in GET_REASONS, (exc.reason, exc.detail)
        else:
            raise AssertionError(f"{uri!r} read {data!r} from outside the root")
    return outcome


segments = st.one_of(
    st.sampled_from(
        [
            "..",
            "%2e%2e",
            "%2E%2E",
            ".%2e",
            ".",
            "",
            "ab",
            "out",
            "link",
            "a%20",
            "a%2520",
            "x",
            "secret",
            "passwd",
            "%2f",
            "..%2f..%2f",
            "loop",
            "dir",
            "\x00",
            "a" * 300,
            "..\\..",
            "~",
            "$HOME",
            "outside",
        ]
    ),
    st.text(max_size=12),
)
prefixes = st.sampled_from(
    [
        "file://",
        "file:",
        "",
        "FILE://",
        "file://localhost",
        "file://evil.example",
        "file:///etc/",
        "file:////",
        "s3://bucket",
        "http://example.org",
        "https://h",
        "data:,",
        "memory://",
        "simplecache::file://",
        "ftp://h",
        "file://[::1",
        "gs://b",
        "hdfs://n",
    ]
)
suffixes = st.sampled_from(
    ["", "?q=../../etc/passwd", "#../../secret", "::file:///etc/passwd", "/", "//", "\x00"]
)


@st.composite
def hostile_uris(draw: st.DrawFn, root: str) -> str:
    prefix = draw(prefixes)
    base = draw(st.sampled_from([root, "/etc", "/", "", root + "/ab", root + "/../outside"]))
    path = "/".join(draw(st.lists(segments, max_size=8)))
    return prefix + base + ("/" if path else "") + path + draw(suffixes)


@FUZZ
@given(data=st.data())
def test_generated_uris_never_read_outside_the_root(layout: Layout, data: st.DataObject) -> None:
    assert_refused_or_inside(layout, data.draw(hostile_uris(str(layout.root))))


@FUZZ
@given(text=st.text(max_size=300))
@example(text="file:///etc/passwd")
@example(text="/etc/passwd")
@example(text="../../../../etc/passwd")
@example(text="%2e%2e/%2e%2e/etc/passwd")
@example(text="data:text/plain;base64,c2VjcmV0")
@example(text="http://169.254.169.254/latest/meta-data/")
@example(text="s3://bucket/key")
@example(text="file://" + "/a" * 3000)
def test_arbitrary_text_never_reads_outside_the_root(layout: Layout, text: str) -> None:
    assert_refused_or_inside(layout, text)


@pytest.mark.parametrize(
    "rel,reason",
    [
        ("link", "uri_outside_roots"),  # a file symlink out of the root
        ("ab/out/secret", "uri_outside_roots"),  # through a directory symlink
        ("../outside/secret", "uri_path_traversal"),
        ("ab/%2e%2e/%2e%2e/outside/secret", "uri_path_traversal"),  # percent-encoded dots
        ("a%20", "blob_missing"),  # was read through the link named "a%2520" (the checked path was re-quoted)
        ("x::file:///etc/passwd", "blob_missing"),  # fsspec would have opened the link "x"
        ("loop", "blob_unreadable"),  # a symlink loop inside the root
        ("dir", "blob_unreadable"),  # a directory
        ("a" * 300, "blob_unreadable"),  # a name too long for the file system
        ("b\x00/../../outside/secret", "uri_invalid"),
    ],
)
def test_known_escapes_are_refused_with_their_reason(layout: Layout, rel: str, reason: str) -> None:
    uri = f"file://{layout.root}/{rel}"
    with pytest.raises(UriPolicyError) as info:
        layout.store.get(secret_ref(uri), max_bytes=1 << 20)
    assert info.value.reason == reason, info.value.detail


@pytest.mark.parametrize(
    "uri,reason",
    [
        ("file:///etc/passwd", "uri_outside_roots"),
        ("/etc/passwd", "uri_outside_roots"),
        ("file://evil.example/etc/passwd", "uri_outside_roots"),
        ("http://example.org/secret", "uri_scheme_not_allowed"),
        ("s3://bucket/secret", "uri_scheme_not_allowed"),
        ("data:,secret", "uri_scheme_not_allowed"),
        ("simplecache::file:///etc/passwd", "uri_scheme_not_allowed"),
        ("file://[::1/etc/passwd", "uri_invalid"),
    ],
)
def test_uris_outside_roots_or_schemes_are_refused(layout: Layout, uri: str, reason: str) -> None:
    with pytest.raises(UriPolicyError) as info:
        layout.store.check_uri(uri)
    assert info.value.reason == reason


@pytest.mark.parametrize("root_name", ["blobs", "blobs with space", "blobs%20pct", "blobs#hash"])
def test_blobs_put_in_the_root_are_read_back(tmp_path: Path, root_name: str) -> None:
    """The resolver still reads what the store wrote, whatever the root's name (a space once broke it)."""
    lay = _layout(tmp_path, root_name)
    assert lay.store.get(lay.blob, max_bytes=1 << 20) == BLOB
    tampered = lay.blob.model_copy(update={"sha256": "0" * 64})
    with pytest.raises(UriPolicyError, match="blob_hash_mismatch"):
        lay.store.get(tampered, max_bytes=1 << 20)
    with pytest.raises(UriPolicyError, match="blob_too_large"):
        lay.store.get(lay.blob, max_bytes=len(BLOB) - 1)


def test_extra_roots_are_readable_but_their_links_out_are_not(tmp_path: Path) -> None:
    lay = _layout(tmp_path)
    extra = tmp_path / "dataset"
    extra.mkdir()
    (extra / "frame.png").write_bytes(BLOB)
    os.symlink(lay.outside / "secret", extra / "leak")
    store = BlobStore(lay.store.root_uri, extra_roots=(str(extra),))
    ok = MediaRef(
        media_type="image/png",
        uri=f"file://{extra}/frame.png",
        sha256=hashlib.sha256(BLOB).hexdigest(),
        size_bytes=len(BLOB),
    )
    assert store.get(ok, max_bytes=1 << 20) == BLOB
    with pytest.raises(UriPolicyError, match="uri_outside_roots"):
        store.get(secret_ref(f"file://{extra}/leak"), max_bytes=1 << 20)
    with pytest.raises(UriPolicyError, match="uri_outside_roots"):
        store.get(
            secret_ref(f"file://{extra}-evil/frame.png"), max_bytes=1 << 20
        )  # a sibling sharing the prefix


def test_a_non_file_scheme_root_keeps_its_checks() -> None:
    """With an allowed non-file scheme (fsspec memory here), traversal, other roots and '::' chains are refused."""
    store = BlobStore("memory://tailor-fuzz-root", allowed_schemes=("memory",))
    ref = store.put(BLOB, "image/png")
    assert store.get(ref, max_bytes=1 << 20) == BLOB
    fs = fsspec.filesystem("memory")
    fs.pipe("/tailor-fuzz-other/secret", SECRET)
    for uri, reason in [
        ("memory://tailor-fuzz-other/secret", "uri_outside_roots"),
        ("memory://tailor-fuzz-root/../tailor-fuzz-other/secret", "uri_path_traversal"),
        ("memory://tailor-fuzz-root/%2e%2e/tailor-fuzz-other/secret", "uri_path_traversal"),
        ("memory://tailor-fuzz-root-evil/secret", "uri_outside_roots"),
        ("memory://tailor-fuzz-root/x::memory://tailor-fuzz-other/secret", "uri_invalid"),
        ("file:///etc/passwd", "uri_scheme_not_allowed"),
    ]:
        with pytest.raises(UriPolicyError) as info:
            store.get(secret_ref(uri), max_bytes=1 << 20)
        assert info.value.reason == reason, (uri, info.value.detail)
    fs.rm("/tailor-fuzz-other", recursive=True)
    fs.rm("/tailor-fuzz-root", recursive=True)
