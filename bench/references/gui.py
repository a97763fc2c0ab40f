"""GUI cases (AITW episode, Mind2Web task): references from the recordings' own annotations
(`gui_notes`), over whole sessions and sub-windows of them.

- gui_action_extraction: the annotated actions (type, point, element name, element box, typed text).
- tutorial: the session's instruction as title, one step per annotated description.
- temporal_qa: the order of the window's last two actions other than `done`.
- next_subtask: the first action at step 2 or later with a step after it; the input is every step before.
- gui_task_reconstruction: the fragment plan Tailor shows (its labels and which fragments come from the
  other session) with the annotations' descriptions, the true order and the true steps of each fragment.
"""

from __future__ import annotations

from agents.tasks.anchor_view import of_type, third_person
from agents.tasks.base import SynthesisContext, TaskSpec
from agents.tasks.gui_action_extraction import Box, ExtractedAction, GuiActionExtractionOutput
from agents.tasks.gui_task_reconstruction import (
    Fragment,
    GuiTaskReconstruction,
    GuiTaskReconstructionOutput,
    Placement,
)
from agents.tasks.next_subtask import NextSubtask, NextSubtaskOutput
from agents.tasks.temporal_qa import TemporalQaOutput
from agents.tasks.tutorial import TutorialOutput, TutorialStep
from bench.references.base import CaseMaker, DraftCase, ReferenceError
from bench.references.gui_notes import GuiSession, StepNote, aitw_session, mind2web_session
from core.records import AnchorSet

INTENTS = {
    "gui_action_extraction": "Extract every action of this GUI session with its target and position.",
    "tutorial": "Turn this recorded session into a short step-by-step tutorial.",
    "temporal_qa": "Ask which of two actions in this session comes first, citing the steps.",
    "next_subtask": "Given the first screens, predict the user's next action and its steps.",
    "gui_task_reconstruction": "Mix this session's steps with another session's and ask to restore the task.",
}
# (session, first step, steps, families); reconstruction windows take the other session's whole window as distractor
WINDOWS = (
    (
        "aitw",
        0,
        4,
        ("gui_action_extraction", "tutorial", "temporal_qa", "next_subtask", "gui_task_reconstruction"),
    ),
    ("aitw", 1, 3, ("gui_action_extraction", "tutorial", "temporal_qa")),
    ("aitw", 0, 3, ("gui_action_extraction", "gui_task_reconstruction")),
    ("mind2web", 0, 3, ("gui_action_extraction", "tutorial", "temporal_qa", "gui_task_reconstruction")),
    ("mind2web", 1, 2, ("gui_action_extraction",)),
)


def clause(note: StepNote) -> str:
    """`Click on the Clock app` → `the user clicks on the Clock app`."""
    return "the user " + third_person(note.description)


class GuiCases(CaseMaker):
    def cases(self) -> list[DraftCase]:
        sessions = {"aitw": aitw_session(), "mind2web": mind2web_session()}
        whole = {name: self.anchorer.select(s.source, s.key, 0, len(s.notes)) for name, s in sessions.items()}
        out: list[DraftCase] = []
        for name, first, count, families in WINDOWS:
            session = sessions[name]
            window, anchors = self.anchorer.select(session.source, session.key, first, count)
            notes = session.notes[first : first + count]
            self.check_recording(anchors, notes)
            other = "mind2web" if name == "aitw" else "aitw"
            for family in families:
                distractors: tuple[AnchorSet, ...] = ()
                if family == "gui_task_reconstruction":
                    distractors = (whole[other][1],)
                    reference = self.reconstruction(anchors, session, notes, distractors, sessions[other])
                else:
                    reference = getattr(self, family)(session, notes)
                out.append(
                    self.draft(
                        f"gui-{name}-{first}-{first + count - 1}-{family}",
                        family,
                        INTENTS[family],
                        window,
                        anchors,
                        reference,
                        f"{name} steps {first}-{first + count - 1}: {DERIVATION[family]}",
                        distractors,
                    )
                )
        return out

    @staticmethod
    def check_recording(anchors: AnchorSet, notes: tuple[StepNote, ...]) -> None:
        """The annotations describe the recorded steps: as many steps, and the same element boxes (which also
        checks that the Mind2Web screenshot crop starts at page row 0)."""
        if anchors.num_frames != len(notes):
            raise ReferenceError(
                f"{anchors.window_id}: {anchors.num_frames} steps but {len(notes)} annotations"
            )
        for action in of_type(anchors, "gui_action"):
            note = notes[action.frame_index]
            box = action.bbox
            if (
                note.bbox is not None
                and box is not None
                and max(abs(a - b) for a, b in zip(note.bbox, (box.x, box.y, box.w, box.h))) > 1.0
            ):
                raise ReferenceError(
                    f"{anchors.window_id} step {action.frame_index}: annotated box {note.bbox} "
                    f"is not the recorded {box}"
                )

    @staticmethod
    def gui_action_extraction(session: GuiSession, notes: tuple[StepNote, ...]) -> GuiActionExtractionOutput:
        actions = [
            ExtractedAction(
                frame=i,
                type=n.type,  # type: ignore[arg-type]
                point=n.point,
                target=n.target,  # type: ignore[arg-type]
                bbox=Box(x=n.bbox[0], y=n.bbox[1], w=n.bbox[2], h=n.bbox[3]) if n.bbox else None,
                text=n.text,
            )
            for i, n in enumerate(notes)
        ]
        return GuiActionExtractionOutput(input_range=(0, len(notes) - 1), actions=actions)

    @staticmethod
    def tutorial(session: GuiSession, notes: tuple[StepNote, ...]) -> TutorialOutput:
        return TutorialOutput(
            title=session.instruction[:200],
            steps=[TutorialStep(text=n.description[:300], frame=i) for i, n in enumerate(notes)],
        )

    @staticmethod
    def temporal_qa(session: GuiSession, notes: tuple[StepNote, ...]) -> TemporalQaOutput:
        acting = [i for i, n in enumerate(notes) if n.type != "done"]
        if len(acting) < 2:
            raise ReferenceError("temporal_qa needs two actions")
        a, b = acting[-2], acting[-1]
        listed = "; ".join(f"step {i}: {n.description}" for i, n in enumerate(notes))
        return TemporalQaOutput(
            question=f"Which comes first in this session: {clause(notes[b])}, or {clause(notes[a])}?",
            answer=f"First {clause(notes[a])} (step {a}); then {clause(notes[b])} (step {b}).",
            cot=f"The recorded actions are {listed}; step {a} comes before step {b}.",
            input_video=(0, len(notes) - 1),
            evidence_frames=[a, b],
        )

    @staticmethod
    def next_subtask(session: GuiSession, notes: tuple[StepNote, ...]) -> NextSubtaskOutput:
        s = next((i for i in range(2, len(notes) - 1) if notes[i].type != "done"), None)
        if s is None:
            raise ReferenceError("next_subtask needs an action at step 2 or later with a step after it")
        done = "; ".join(n.description for n in notes[:s])
        result = f" {notes[s].result}" if notes[s].result else ""
        return NextSubtaskOutput(
            input_range=(0, s - 1),
            next_subtask=NextSubtask(text=notes[s].description[:300], range=(s, s + 1)),
            cot=f"Steps 0-{s - 1} were: {done}. The next recorded action, at step {s}, is: {notes[s].description}; "
            f"step {s + 1} shows its result.{result}"[:2000],
        )

    def reconstruction(
        self,
        anchors: AnchorSet,
        session: GuiSession,
        notes: tuple[StepNote, ...],
        distractors: tuple[AnchorSet, ...],
        other: GuiSession,
    ) -> GuiTaskReconstructionOutput:
        family = self.family("gui_task_reconstruction")
        assert isinstance(family, GuiTaskReconstruction)
        plan = family.plan(SynthesisContext(anchors, TaskSpec(family.name), distractors))
        if not plan:
            raise ReferenceError(f"{anchors.window_id}: no fragment plan")
        true = sorted((p for p in plan if p.true), key=lambda p: p.start)
        covered = [f for p in true for f in range(p.start, p.end + 1)]
        if covered != list(range(len(notes))):
            raise ReferenceError(
                f"{anchors.window_id}: fragments {[(p.start, p.end) for p in true]} do not tile the "
                f"{len(notes)} recorded steps"
            )

        def words(p_notes: tuple[StepNote, ...], start: int, end: int) -> str:
            return "; then ".join(n.description for n in p_notes[start : end + 1])[:300]

        fragments = [
            Fragment(label=p.label, description=words(notes if p.true else other.notes, p.start, p.end))
            for p in plan
        ]
        return GuiTaskReconstructionOutput(
            fragments=fragments,
            task=session.instruction[:500],
            answer=[Placement(label=p.label, start_frame=p.start, end_frame=p.end) for p in true],
        )


DERIVATION = {
    "gui_action_extraction": "annotated actions (AITW action codes, touch points, screen-parse box, CoAT "
    "description; Mind2Web previous actions and gold operation with its box).",
    "tutorial": "the session instruction and the annotated step descriptions.",
    "temporal_qa": "the order of the last two annotated actions other than done.",
    "next_subtask": "the first annotated action at step 2 or later and the step showing its result.",
    "gui_task_reconstruction": "true order and steps of this session's fragments; distractor fragments from "
    "the other session, described by its annotations; labels as Tailor's plan shows them.",
}
