"""The on-demand GNOME screen recording asset."""

from __future__ import annotations

import av
import pytest

from agents.extractors.video.assets import AssetError, gnome_help_video
from agents.extractors.video.assets_config import AssetsConfig


def test_recording_is_cached_and_real(gnome_webm):  # type: ignore[no-untyped-def]
    assert gnome_help_video("display-dual-monitors.webm") == gnome_webm
    with av.open(str(gnome_webm)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("vp8", 1024, 768)


def test_names_are_checked(gnome_webm, tmp_path):  # type: ignore[no-untyped-def]
    with pytest.raises(AssetError) as info:
        gnome_help_video("../../etc/passwd")
    assert info.value.reason == "bad_asset_name"
    with pytest.raises(AssetError) as info:
        gnome_help_video("no-such-figure.webm")
    assert info.value.reason == "asset_missing"
    with pytest.raises(AssetError) as info:
        gnome_help_video(
            "x.webm", AssetsConfig(cache_dir=tmp_path, gnome_docs_package="no-such-package-tailor")
        )
    assert info.value.reason == "asset_unavailable"
