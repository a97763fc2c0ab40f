"""One error base: every labelled failure is a `core.errors.TailorError` (reason + detail), none re-declares them."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("core", "agents", "trainer", "streaming", "app", "bench")


def test_no_exception_class_redeclares_reason_and_detail() -> None:
    """An exception class that sets `self.reason` itself is a near-copy of TailorError (it was ten of them)."""
    offenders = []
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            if path == REPO / "core" / "errors.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ClassDef) or not any(
                    isinstance(b, ast.Name)
                    and b.id.endswith(("Error", "Exception", "Unavailable", "Missing"))
                    for b in node.bases
                ):
                    continue
                sets = {
                    t.attr
                    for f in node.body
                    if isinstance(f, ast.FunctionDef) and f.name == "__init__"
                    for st in ast.walk(f)
                    if isinstance(st, ast.Assign)
                    for t in st.targets
                    if isinstance(t, ast.Attribute) and t.attr in ("reason", "detail")
                }
                if sets:
                    offenders.append(f"{Path(path).relative_to(REPO)}:{node.lineno} {node.name}")
    assert not offenders, offenders


def test_labelled_errors_share_the_base_and_keep_their_builtin_kind() -> None:
    from agents.extractors.base import ExtractorError
    from core.errors import TailorError
    from core.records import RecordError
    from streaming.replay.base import ReplayError
    from trainer.weights import WeightsError

    exc = ReplayError("truncated_media", "68 of 444 frames")
    assert isinstance(exc, TailorError) and isinstance(exc, ValueError)
    assert (exc.reason, exc.detail, str(exc)) == (
        "truncated_media",
        "68 of 444 frames",
        "truncated_media: 68 of 444 frames",
    )
    assert isinstance(RecordError("x", "y"), ValueError) and isinstance(WeightsError("x", "y"), RuntimeError)
    ext = ExtractorError("scene_cuts", "decode_failed", "bad frame")
    assert isinstance(ext, TailorError) and str(ext) == "scene_cuts: decode_failed: bad frame"
    assert (ext.reason, ext.detail, ext.extractor) == ("decode_failed", "bad frame", "scene_cuts")
