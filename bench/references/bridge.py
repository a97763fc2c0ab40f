"""Bridge (BridgeData V2, 25 WidowX episodes of 10 steps): references from each episode's language
instruction and the gripper channel of its recorded action vectors (action[6]: 1 = open, 0 = closed).

- temporal_qa: when the gripper is first commanded to close (the first step with action[6] < 0.5), for
  every episode that closes it.
- next_subtask: the observed reach (steps before that close) and the next subtask, the grasp-and-carry
  from the close step to the last step, for episodes where both parts span at least two steps.
"""

from __future__ import annotations

from agents.tasks.next_subtask import NextSubtask, NextSubtaskOutput
from agents.tasks.temporal_qa import TemporalQaOutput
from bench.references.base import CaseMaker, DraftCase, first_index
from bench.sources import SourceRef
from core.records import RobotStep

BRIDGE = SourceRef(
    root="shared", path="data/robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001", kind="robot"
)
GRIPPER = 6  # index of the gripper command in Bridge's 7-d action
CLOSED_BELOW = 0.5
QA_INTENT = "Ask when the robot grasps the object in this episode, citing the step."
NEXT_INTENT = "Given the first steps of the episode, say which subtask the robot does next and when."


class BridgeCases(CaseMaker):
    def cases(self) -> list[DraftCase]:
        out: list[DraftCase] = []
        for key in sorted(self.anchorer.records.records(BRIDGE)):
            steps = self.anchorer.records.typed(BRIDGE, key, RobotStep)
            command = [s.action[GRIPPER] for s in steps]
            close = first_index(command, 0, lambda v: v < CLOSED_BELOW)
            if close is None:
                continue  # the episode never closes the gripper: no grasp to ask about
            window, anchors = self.anchorer.select(BRIDGE, key, 0, len(steps))
            episode = key.rsplit(":", 1)[-1]
            instruction = steps[0].instruction or "the task"
            where = f"Bridge episode {episode} ({instruction!r})"
            out.append(
                self.draft(
                    f"robot-bridge-{episode}-temporal_qa",
                    "temporal_qa",
                    QA_INTENT,
                    window,
                    anchors,
                    self.when_closed(steps, command, close, instruction),
                    f"{where}: the first step whose recorded gripper command action[6] is below {CLOSED_BELOW}.",
                )
            )
            if 2 <= close <= len(steps) - 2:
                out.append(
                    self.draft(
                        f"robot-bridge-{episode}-next_subtask",
                        "next_subtask",
                        NEXT_INTENT,
                        window,
                        anchors,
                        self.next_after_reach(steps, command, close, instruction),
                        f"{where}: reach = steps before the first closed gripper command, next subtask = "
                        "grasp-and-carry from that step to the last step.",
                    )
                )
        return out

    @staticmethod
    def when_closed(
        steps: list[RobotStep], command: list[float], k: int, instruction: str
    ) -> TemporalQaOutput:
        seconds = steps[k].timestamp - steps[0].timestamp
        before = f"steps 0-{k - 1}" if k > 1 else "step 0"
        return TemporalQaOutput(
            question=f"At which step is the gripper first commanded to close while the robot does the task "
            f"'{instruction}'?",
            answer=f"At step {k} ({seconds:.1f} s into the episode) the gripper command drops to "
            f"{command[k]:.2f}: the robot closes the gripper to grasp.",
            cot=f"The recorded gripper command (action[6]) stays at or above {CLOSED_BELOW} (open) over {before} "
            f"and is {command[k]:.2f} at step {k}, the first closed value, so the grasp starts at step {k}.",
            input_video=(0, len(steps) - 1),
            evidence_frames=[k],
        )

    @staticmethod
    def next_after_reach(
        steps: list[RobotStep], command: list[float], k: int, instruction: str
    ) -> NextSubtaskOutput:
        last = len(steps) - 1
        return NextSubtaskOutput(
            input_range=(0, k - 1),
            next_subtask=NextSubtask(
                text=f"close the gripper on the object and carry it: {instruction}"[:300], range=(k, last)
            ),
            cot=f"Over steps 0-{k - 1} the gripper is commanded open (action[6] >= {CLOSED_BELOW}) while the arm "
            f"reaches. At step {k} the command closes ({command[k]:.2f}), so the next subtask is the grasp and "
            f"carry, over steps {k}-{last}.",
        )
