"""Experts from other distributions: the `tailor.extractors` entry-point group (docs/extending.md).

An entry point names an `Extractor` subclass (made with no arguments) or a function of no arguments
returning one. The expert says which domain's windows it takes in its `domain` class attribute
("robot": a RobotWindow, "gui": a GuiWindow, "video": a VideoWindow, and then it must be a VideoExpert);
each domain's pipeline runs its plug-in experts after the built-in ones, in entry-point name order. Experts
are made whenever a pipeline is built, like the built-in ones: once at start-up for robot and GUI, for
every window for video.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from agents.extractors.base import Extractor
from core import plugins

DOMAINS = ("video", "gui", "robot")


def plugin_experts(domain: str, builtin: Collection[str]) -> list[Extractor[Any]]:
    """New instances of the installed experts of `domain` (`builtin`: the names of that domain's own)."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
    out: list[Extractor[Any]] = []
    for p in plugins.load(
        plugins.EXTRACTORS,
        (),
        plugins.class_or_function(Extractor),
        "an Extractor subclass or a function of no arguments returning one",
    ):
        declared = getattr(p.obj, "domain", None) if isinstance(p.obj, type) else None
        if declared in DOMAINS and declared != domain:
            continue  # another domain's class: not made here (its own pipeline makes and checks it)
        expert: Extractor[Any] = plugins.build(p, Extractor)
        plugins.same_name(p, expert.name)
        own = getattr(expert, "domain", None)
        if own not in DOMAINS:
            raise p.error("bad_domain", f"its domain attribute is {own!r}; it must be one of {DOMAINS}")
        if own != domain:
            continue
        if p.name in builtin:
            raise p.error(
                "name_clash", f"{p.name!r} is a built-in {domain} expert; a plug-in cannot replace it"
            )
        if domain == "video":
            from agents.extractors.video.expert import VideoExpert

            if not isinstance(expert, VideoExpert):
                raise p.error(
                    "wrong_type", "a video expert must be a VideoExpert (agents.extractors.video.expert)"
                )
        out.append(expert)
    return out
