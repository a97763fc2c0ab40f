"""UMI cup episode (400 frames at 10 fps): references from its gripper_width and end-effector position
(see `umi_timeline`), over five windows of the episode (200 or 400 frames).

- temporal_qa: the order of the first and last gripper events in the window (or, without any, when the
  gripper starts to move after the opening pause).
- next_subtask: the first phase that starts at frame 2 or later and spans two frames or more.
- robot_fault_recovery: the longest pause that leaves two frames after it (freeze = its first frame,
  observation = up to 20 frames before it to its end, recovery = up to 30 frames inside the next phase).
- world_model_sample: the moving phase with the most motion (summed speed), at most 64 frames.
"""

from __future__ import annotations

from agents.tasks.next_subtask import NextSubtask, NextSubtaskOutput
from agents.tasks.robot_fault_recovery import RobotFaultRecoveryOutput
from agents.tasks.temporal_qa import TemporalQaOutput
from agents.tasks.world_model_sample import PlanStep, WorldModelSampleOutput
from bench.references.base import CaseMaker, DraftCase, ReferenceError
from bench.references.umi_timeline import EVENT_TEXT, PAUSE_BELOW_MM, Phase, UmiTimeline
from bench.sources import SourceRef
from core.records import RobotStep

UMI = SourceRef(root="shared", path="data/robot/umi_cup_in_the_wild", kind="robot")
KEY = "umi_cup_in_the_wild:0"
FPS = 10.0
# (first frame, frames, families)
WINDOWS = (
    (0, 200, ("temporal_qa", "next_subtask", "robot_fault_recovery")),
    (200, 200, ("temporal_qa", "next_subtask", "robot_fault_recovery", "world_model_sample")),
    (100, 200, ("temporal_qa", "next_subtask")),
    (0, 400, ("temporal_qa", "next_subtask", "world_model_sample")),
    (150, 200, ("temporal_qa", "next_subtask")),
)
INTENTS = {
    "temporal_qa": "Ask about the order of the gripper's grasp and release in this clip, with frames.",
    "next_subtask": "From the frames so far, predict the gripper's next subtask and its frames.",
    "robot_fault_recovery": "Find where the gripper gets stuck and say how it recovers.",
    "world_model_sample": "Pick the most motion-rich part of the clip as a world-model training sample.",
}
SCENE = "A hand-held gripper camera over a round white table outdoors with a blue cup and a blue saucer"


class UmiWindow:
    """One window of the episode: frames are window-relative (episode frame - first)."""

    def __init__(self, t: UmiTimeline, first: int, count: int) -> None:
        self.t = t
        self.first = first
        self.last = count - 1

    def rel(self, frame: int) -> int:
        return frame - self.first

    def phases(self) -> list[Phase]:
        out = []
        for p in self.t.phases:
            s, e = max(p.start, self.first), min(p.end, self.first + self.last)
            if s <= e:
                out.append(Phase(p.name, self.rel(s), self.rel(e)))
        return out

    def events(self) -> list[tuple[int, str]]:
        found = [(self.rel(f), name) for name, f in self.t.events.items() if 0 <= self.rel(f) <= self.last]
        return sorted(found)

    def width(self, rel: int) -> float:
        return self.t.width[rel + self.first]


class UmiCases(CaseMaker):
    def cases(self) -> list[DraftCase]:
        steps = self.anchorer.records.typed(UMI, KEY, RobotStep)
        timeline = UmiTimeline.of(steps)
        out: list[DraftCase] = []
        for first, count, families in WINDOWS:
            window, anchors = self.anchorer.select(UMI, KEY, first, count)
            w = UmiWindow(timeline, first, count)
            for family in families:
                reference = getattr(self, family)(w)
                out.append(
                    self.draft(
                        f"robot-umi-{first:03d}-{first + count - 1:03d}-{family}",
                        family,
                        INTENTS[family],
                        window,
                        anchors,
                        reference,
                        derivation(family, first, count),
                    )
                )
        return out

    def temporal_qa(self, w: UmiWindow) -> TemporalQaOutput:
        events = w.events()
        if not events:
            hold = w.t.phases[0]
            start = w.rel(hold.end + 1)
            if hold.name != "hold" or not 0 < start <= w.last:
                raise ReferenceError(f"UMI window from {w.first}: no gripper event and no motion onset")
            return TemporalQaOutput(
                question="In which frame does the gripper start to move after holding still?",
                answer=f"Frame {start} ({start / FPS:.1f} s into the window): the gripper starts moving toward "
                "the cup.",
                cot=f"The end-effector speed stays below {PAUSE_BELOW_MM} mm per step up to frame {start - 1} and "
                f"rises above it at frame {start}.",
                input_video=(0, w.last),
                evidence_frames=[start],
            )
        (a, name_a), (b, name_b) = events[0], events[-1]
        return TemporalQaOutput(
            question=f"Which happens first in this clip: {EVENT_TEXT[name_b]}, or {EVENT_TEXT[name_a]}?",
            answer=f"First {EVENT_TEXT[name_a]} (frame {a}); then {EVENT_TEXT[name_b]} (frame {b}).",
            cot=f"gripper_width is {w.width(a):.4f} m at frame {a} and {w.width(b):.4f} m at frame {b} (open "
            f"{w.t.open_width:.4f} m, closed on the cup {w.t.closed_width:.4f} m); {a} < {b}.",
            input_video=(0, w.last),
            evidence_frames=[a, b],
        )

    def next_subtask(self, w: UmiWindow) -> NextSubtaskOutput:
        phases = w.phases()
        for prev, nxt in zip(phases, phases[1:]):
            if nxt.start >= 2 and nxt.end > nxt.start:
                return NextSubtaskOutput(
                    input_range=(0, nxt.start - 1),
                    next_subtask=NextSubtask(text=nxt.text, range=(nxt.start, nxt.end)),
                    cot=f"Up to frame {nxt.start - 1} the gripper is in the '{prev.name}' phase ({prev.text}); "
                    f"gripper_width is {w.width(nxt.start - 1):.4f} m there and {w.width(nxt.end):.4f} m at "
                    f"frame {nxt.end}. Next it will {nxt.text}, over frames {nxt.start}-{nxt.end}.",
                )
        raise ReferenceError(f"UMI window from {w.first}: no next phase")

    def robot_fault_recovery(self, w: UmiWindow) -> RobotFaultRecoveryOutput:
        inside = [(w.rel(s), w.rel(e)) for s, e in w.t.pauses if w.rel(s) >= 0 and w.rel(e) + 2 <= w.last]
        if not inside:
            raise ReferenceError(f"UMI window from {w.first}: no pause")
        s, e = max(inside, key=lambda p: (p[1] - p[0], -p[0]))
        resumed = w.t.phase_at(e + 1 + w.first)
        rec = (e + 1, min(e + 30, w.rel(resumed.end), w.last))
        if rec[1] <= rec[0]:
            rec = (e + 1, min(e + 30, w.last))
        obs = (max(0, s - 20), e)
        paused_in = w.t.phase_at(s + w.first)
        during = [(f, n) for f, n in w.events() if rec[0] <= f <= rec[1]]
        answer = f"Resume the {resumed.name} motion: {resumed.text}; it moves again from frame {rec[0]}"
        answer += f", and {EVENT_TEXT[during[0][1]]} at frame {during[0][0]}." if during else "."
        return RobotFaultRecoveryOutput(
            freeze_frame=s,
            observation=obs,
            recovery=rec,
            question=f"The gripper stops moving at frame {s}. Having seen frames {obs[0]}-{obs[1]}, what should it "
            "do to recover?",
            answer=answer,
            cot=f"The end-effector speed stays below {PAUSE_BELOW_MM} mm per step over frames {s}-{e} "
            f"({(e - s + 1) / FPS:.1f} s) in the '{paused_in.name}' phase; from frame {rec[0]} it moves again in "
            f"the '{resumed.name}' phase.",
        )

    def world_model_sample(self, w: UmiWindow) -> WorldModelSampleOutput:
        moving = [p for p in w.phases() if p.name != "hold" and p.end - p.start + 1 >= 4]
        if not moving:
            raise ReferenceError(f"UMI window from {w.first}: no moving phase")
        best = max(
            moving, key=lambda p: (sum(w.t.speed_mm[p.start + w.first : p.end + w.first + 1]), -p.start)
        )
        start, end = best.start, min(best.end, best.start + 63)
        frames = sorted({round(start + i * (end - start) / 7) for i in range(8)})
        speeds = w.t.speed_mm[start + w.first : end + w.first + 1]
        peak = start + max(range(len(speeds)), key=lambda i: speeds[i])
        marks = {
            start: f"{best.text} begins",
            peak: "the gripper moves fastest",
            end: f"{best.name} segment ends",
        }
        for f, name in w.events():
            if start < f < end:
                marks[f] = EVENT_TEXT[name]
        plan = [PlanStep(frame=f, description=d) for f, d in sorted(marks.items())]
        return WorldModelSampleOutput(
            segment=(start, end),
            frames=frames,
            motion_plan=plan,
            prompt=f"{SCENE}: the gripper {best.text}. {end - start + 1} frames, {(end - start + 1) / FPS:.1f} s.",
        )


def derivation(family: str, first: int, count: int) -> str:
    head = f"UMI cup episode frames {first}-{first + count - 1}: "
    return (
        head
        + {
            "temporal_qa": "gripper events from gripper_width thresholds (first and last in the window).",
            "next_subtask": "phases tiled from gripper_width events and the opening pause of the position signal.",
            "robot_fault_recovery": "longest pause of the end-effector speed (state positions), the phase after it.",
            "world_model_sample": "the moving phase with the largest summed end-effector speed, capped at 64 frames.",
        }[family]
    )
