"""The base of the case makers: each maker owns one recording family and decides its windows and the
reference outputs, taken from that recording's own annotations; the base owns window anchoring and the
checks every reference must pass (it parses into its family's schema)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from agents.tasks.base import ParseError, TaskFamily, TaskOutput, registry
from bench.case import WindowSelection
from bench.split import recording_id as make_recording_id
from bench.windows import WindowAnchorer
from core.records import AnchorSet

log = logging.getLogger(__name__)


class ReferenceError(ValueError):
    """A reference that cannot be built from the recording (the annotations and the window disagree)."""


@dataclass(frozen=True)
class DraftCase:
    """A case before its split is known."""

    case_id: str
    family: str
    intent: str
    window: WindowSelection
    anchors: AnchorSet
    reference: TaskOutput
    derivation: str
    distractors: tuple[AnchorSet, ...] = ()

    @property
    def domain(self) -> str:
        return self.anchors.domain

    @property
    def recording_id(self) -> str:
        """The source recording (see `bench.split`): every window of it goes to the same split."""
        return make_recording_id(self.window.source.root, self.window.source.path, self.window.key)


class CaseMaker(ABC):
    """One recording family's cases."""

    def __init__(self, anchorer: WindowAnchorer) -> None:
        self.anchorer = anchorer
        self._families: dict[str, TaskFamily] | None = None

    @abstractmethod
    def cases(self) -> list[DraftCase]:
        """The recording's cases, in a fixed order."""

    def family(self, name: str) -> TaskFamily:
        if self._families is None:
            self._families = registry()
        return self._families[name]

    def draft(
        self,
        case_id: str,
        family: str,
        intent: str,
        window: WindowSelection,
        anchors: AnchorSet,
        reference: TaskOutput,
        derivation: str,
        distractors: tuple[AnchorSet, ...] = (),
    ) -> DraftCase:
        """A case whose reference is checked: it must round-trip through the family's parser."""
        fam = self.family(family)
        if not isinstance(reference, fam.output_model):
            raise ReferenceError(
                f"{case_id}: reference is a {type(reference).__name__}, not {fam.output_model.__name__}"
            )
        try:
            fam.parse(reference.model_dump_json())
        except ParseError as exc:
            raise ReferenceError(f"{case_id}: reference does not parse: {exc}") from None
        last = anchors.num_frames - 1
        for cite in reference.frame_cites():
            if not 0 <= cite.frame <= last:
                raise ReferenceError(
                    f"{case_id}: reference cites {cite.field}={cite.frame} outside 0..{last}"
                )
        return DraftCase(case_id, family, intent, window, anchors, reference, derivation, distractors)


def first_index(values: list[float], start: int, test: Callable[[float], bool]) -> int | None:
    """The first index >= start whose value passes `test`, or None."""
    return next((i for i in range(start, len(values)) if test(values[i])), None)
