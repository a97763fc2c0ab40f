"""Words for a robot subtask phase (reach, carry, release, ...), from the episode's instruction.

The subtask expert labels spans by what the gripper does; what that means depends on the task. "carry the
grasped object" is wrong for "turn lever vertical to front", so the label takes the instruction's verb and
object: reach toward the lever, turn lever vertical to front, release lever and move away. Without an
instruction the generic words stay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GENERIC = {
    "reach": "reach toward the object",
    "carry": "carry the grasped object",
    "release": "release the object and move away",
    "pause": "pause without moving",
    "move": "move the arm",
}
# verbs whose grasped phase moves the object somewhere (carry it to a destination)
TRANSPORT = frozenset(
    [
        "put",
        "place",
        "move",
        "bring",
        "carry",
        "take",
        "transfer",
        "stack",
        "drop",
        "set",
        "hang",
        "insert",
        "pick",
        "lift",
        "relocate",
    ]
)
PARTICLES = frozenset(["up", "down", "over", "off", "out"])
PLACES = frozenset(
    ["on", "onto", "in", "into", "to", "toward", "towards", "inside", "under", "beside", "near", "next"]
)
# words that end the object: prepositions, how the object should end up, clause starts
STOPS = PLACES | frozenset(
    [
        "from",
        "at",
        "with",
        "by",
        "behind",
        "above",
        "below",
        "upright",
        "vertical",
        "horizontal",
        "vertically",
        "horizontally",
        "upside",
        "left",
        "right",
        "open",
        "closed",
        "which",
        "that",
        "who",
        "where",
        "and",
        "then",
        "while",
        "so",
        ",",
        ";",
    ]
)
LEADS = frozenset(["please", "robot", "can", "you", "could"])


@dataclass(frozen=True)
class TaskWords:
    verb: str  # with its particle: "pick up"
    obj: str  # "carrot", "the silver pot"
    rest: str  # everything after the object: "on plate", "vertical to front"
    place: str | None  # the destination phrase of a transport verb: "on plate", "into sink"


def task_words(instruction: str) -> TaskWords | None:
    """The instruction's verb, object and destination; None when it does not start with a verb and object."""
    words = re.findall(r"[a-z0-9'-]+|[,;]", instruction.casefold())
    while words and words[0] in LEADS:
        words.pop(0)
    if len(words) < 2:
        return None
    verb, i = words[0], 1
    if words[1] in PARTICLES and len(words) > 2:
        verb, i = f"{verb} {words[1]}", 2
    j = i
    while j < len(words) and words[j] not in STOPS:
        j += 1
    obj = " ".join(words[i:j])
    if not obj:
        return None
    tail = words[j:]
    clause = next(
        (k for k, w in enumerate(tail) if w in ("which", "that", "who", "and", "then", ",", ";")), len(tail)
    )
    rest = " ".join(tail[:clause])
    place = None
    if verb.split()[0] in TRANSPORT:
        starts = [k for k, w in enumerate(tail[:clause]) if w in PLACES]
        place = " ".join(tail[starts[-1] : clause]) if starts else None
    return TaskWords(verb, obj, rest, place)


def phase_label(phase: str, instruction: str | None) -> str:
    """What a subtask of this phase does in this task (the generic words when the instruction gives none)."""
    words = task_words(instruction) if instruction else None
    if words is None or phase not in ("reach", "carry", "release"):
        return GENERIC.get(phase, phase)
    if phase == "reach":
        return f"reach toward {words.obj}"
    if phase == "carry":
        if words.verb.split()[0] in TRANSPORT:
            return (
                f"carry {words.obj} to {words.place.split(' ', 1)[1]}"
                if words.place
                else f"carry {words.obj}"
            )
        return " ".join(x for x in (words.verb, words.obj, words.rest) if x)
    if words.place:
        return f"release {words.obj} {words.place}"
    return f"release {words.obj} and move away"
