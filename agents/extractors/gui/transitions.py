"""App / site transition expert: where a trajectory crosses from one app or web domain to another."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from agents.extractors.base import Extractor
from agents.extractors.gui.spans import anchor_id
from agents.extractors.gui.window import GuiWindow
from core.records import Anchor, GuiStep

log = logging.getLogger(__name__)


def url_domain(url: str | None) -> str | None:
    """Lower-case host of a URL without a leading `www.`; None when there is none."""
    if not url:
        return None
    text = url.strip()
    try:
        host = urlsplit(text if "://" in text else f"//{text}").hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.removeprefix("www.")


def app_of(step: GuiStep) -> str | None:
    app = (step.app or "").strip()
    return app or None


def step_contexts(window: GuiWindow) -> list[str | None]:
    """Per step, the context it runs in: the app if known, else the URL's domain, else None."""
    return [app_of(s) or url_domain(s.url) for s in window.steps]


class AppTransitionExtractor(Extractor[GuiWindow]):
    """`app_transition` / `url_transition` anchors at the step where the app or domain changes.

    A step that names no app (or URL) keeps the last known one, so gaps in the recording are not
    mistaken for transitions. The anchor spans the last step in the old context to the first in the new.
    """

    name = "app_transition"

    def extract(self, window: GuiWindow) -> list[Anchor]:
        anchors: list[Anchor] = []
        for kind, values in (
            ("app_transition", [app_of(s) for s in window.steps]),
            ("url_transition", [url_domain(s.url) for s in window.steps]),
        ):
            last: tuple[int, str] | None = None
            for i, value in enumerate(values):
                if value is None:
                    continue
                if last is not None and value != last[1]:
                    anchors.append(
                        Anchor(
                            anchor_id=anchor_id(self.name, kind, last[0], i),
                            type=kind,
                            frame_index=last[0],
                            timestamp=window.steps[last[0]].timestamp,
                            end_frame_index=i,
                            end_timestamp=window.steps[i].timestamp,
                            content=f"{last[1]} -> {value}",
                            evidence_frames=[last[0], i],
                        )
                    )
                last = (i, value)
        return anchors
