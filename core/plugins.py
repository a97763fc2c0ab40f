"""Plug-ins from other distributions, found through Python entry points (docs/extending.md).

Each plug-in point is one entry-point group; an installed distribution adds to it in its own
`pyproject.toml`, e.g.

    [project.entry-points."tailor.task_families"]
    gripper_closes = "tailor_gripper_closes:GripperCloses"

The entry point's name is the plug-in's name (the family's `name`, the backend's, the format's ...). The
registries of the plug-in points (`agents.tasks.catalog`, `agents.synthesis.factory`,
`streaming.replay.detect`, the extractor pipelines, `streaming.sink_stage`) ask this module for their
group and check what they get. Nothing is skipped: a plug-in that does not import, has the wrong type,
takes a built-in's name or a name another distribution took too raises `PluginError` naming the entry
point and its distribution, at start-up (where the registry is first consulted).

Loaded objects are cached per process and group; `reset()` forgets them (tests that install plug-ins).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from core.errors import TailorError

log = logging.getLogger(__name__)

TASK_FAMILIES = "tailor.task_families"
SYNTHESIS_BACKENDS = "tailor.synthesis_backends"
EXTRACTORS = "tailor.extractors"
REPLAY_SOURCES = "tailor.replay_sources"
SINKS = "tailor.sinks"
GROUPS = (TASK_FAMILIES, SYNTHESIS_BACKENDS, EXTRACTORS, REPLAY_SOURCES, SINKS)


class PluginError(TailorError, RuntimeError):
    """A plug-in that cannot be used; `reason` is a short label (import_failed, wrong_type, name_clash,
    duplicate_name, name_mismatch, build_failed, or a registry's own check)."""

    def __init__(self, group: str, name: str, dist: str, reason: str, detail: str) -> None:
        super().__init__(
            reason,
            detail,
            f"plug-in {name!r} (entry point of {group} in distribution {dist}): {reason}: {detail}",
        )
        self.group = group
        self.name = name
        self.dist = dist


@dataclass(frozen=True)
class Plugin:
    """One loaded entry point: `obj` is what `value` ("module:attribute") names."""

    group: str
    name: str
    value: str
    dist: str  # "name version" of the distribution that declares it
    obj: Any

    def error(self, reason: str, detail: str) -> PluginError:
        return PluginError(self.group, self.name, self.dist, reason, detail)


_loaded: dict[str, list[Plugin]] = {}


def reset() -> None:
    """Forget what was loaded (the next call looks at the installed distributions again)."""
    _loaded.clear()


def _dist(ep: EntryPoint) -> str:
    dist = ep.dist
    return f"{dist.name} {dist.version}" if dist is not None else "(unknown distribution)"


def _entry_points(group: str) -> list[EntryPoint]:
    if group not in GROUPS:
        raise PluginError(group, "-", "-", "unknown_group", f"plug-in groups are {', '.join(GROUPS)}")
    return sorted(entry_points(group=group), key=lambda ep: (ep.name, _dist(ep)))


def names(group: str) -> list[str]:
    """Names of the installed plug-ins of `group`, sorted, without importing them (for settings checks)."""
    if group in _loaded:
        return [p.name for p in _loaded[group]]
    return sorted({ep.name for ep in _entry_points(group)})


def load(
    group: str,
    builtin: Collection[str] = (),
    check: Callable[[Any], bool] | None = None,
    expected: str = "",
) -> list[Plugin]:
    """Every installed plug-in of `group`, imported, sorted by name.

    `builtin`: names of the registry's own entries (a plug-in may not take one). `check`: whether an
    imported object is of the kind the registry takes (`expected` says what that is, for the error).
    """
    if group not in _loaded:
        found: list[Plugin] = []
        seen: dict[str, str] = {}
        for ep in _entry_points(group):
            dist = _dist(ep)
            if ep.name in seen:
                raise PluginError(
                    group,
                    ep.name,
                    dist,
                    "duplicate_name",
                    f"distribution {seen[ep.name]} declares a plug-in of that name too",
                )
            seen[ep.name] = dist
            try:
                obj = ep.load()
            except Exception as exc:  # any failure of someone else's import: name it, do not skip it
                raise PluginError(
                    group, ep.name, dist, "import_failed", f"{ep.value}: {type(exc).__name__}: {exc}"
                ) from exc
            found.append(Plugin(group, ep.name, ep.value, dist, obj))
        _loaded[group] = found
        if found:
            log.info("plug-ins of %s: %s", group, ", ".join(f"{p.name} ({p.dist})" for p in found))
    plugins = _loaded[group]
    for p in plugins:
        if p.name in builtin:
            raise p.error(
                "name_clash", f"{p.name!r} is built in; a plug-in cannot replace it (rename the plug-in)"
            )
        if check is not None and not check(p.obj):
            raise p.error("wrong_type", f"{p.value} is {describe(p.obj)}, expected {expected}")
    return list(plugins)


def build(plugin: Plugin, kind: type, *args: Any) -> Any:
    """`plugin.obj(*args)`, which must give a `kind` (abstract classes welcome, hence no TypeVar); PluginError
    when it raises or gives something else."""
    try:
        made = plugin.obj(*args)
    except Exception as exc:
        raise plugin.error("build_failed", f"{plugin.value}(...) raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(made, kind):
        raise plugin.error(
            "wrong_type", f"{plugin.value}(...) gave {describe(made)}, expected a {kind.__name__}"
        )
    return made


def same_name(plugin: Plugin, name: object) -> None:
    """The entry point's name must be the plug-in's own name (what logs, metrics and records call it)."""
    if name != plugin.name:
        raise plugin.error(
            "name_mismatch", f"{plugin.value} calls itself {name!r}; name the entry point the same"
        )


def is_subclass(obj: Any, base: type) -> bool:
    return isinstance(obj, type) and issubclass(obj, base)


def class_or_function(base: type) -> Callable[[Any], bool]:
    """A check for entry points that may name a subclass of `base` or a function making one."""
    return lambda obj: is_subclass(obj, base) or (callable(obj) and not isinstance(obj, type))


def describe(obj: Any) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    return f"a {type(obj).__name__}"
