"""What the benchmark videos show, checked by eye on decoded frames (contact sheets at 0.2–1 s steps).

Frame numbers are of the whole recording at its own rate (bikes and bigbuckbunny 25 fps, carphone
29.97 fps, the GNOME recording 15 fps). Shots run from a cut to the frame before the next cut; moments
are single frames where something visible happens (the first frame where it is seen).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shot:
    start: int
    end: int  # inclusive
    text: str  # what the shot shows, as a noun phrase


@dataclass(frozen=True)
class Moment:
    frame: int
    clause: str  # "the Displays window opens"
    step: str  # imperative, for tutorials: "Open the Displays settings"


@dataclass(frozen=True)
class VideoNotes:
    name: str
    title: str
    scene: str
    shots: tuple[Shot, ...] = ()
    moments: tuple[Moment, ...] = ()


BIKES = VideoNotes(
    name="bikes.mp4",
    title="Street scenes with bicycles, shot by shot",
    scene="Street scenes with bicycles in a city, six shots",
    # cuts at 1.20, 3.04, 5.48, 7.48 and 9.68 s
    shots=(
        Shot(0, 29, "a top-down view of a white painted road marking on asphalt as a red car passes"),
        Shot(30, 75, "a man in a suit cycling past blurred traffic, then a taxi roof sign passing"),
        Shot(
            76, 136, "a cyclist in a helmet waiting at a traffic light beside a van as a car passes in front"
        ),
        Shot(137, 186, "a bicycle locked to a railing at a street corner as cars drive by"),
        Shot(187, 241, "pedestrians walking past a bicycle parked against a building wall next to a bollard"),
        Shot(242, 249, "a close-up of parked bicycle wheels behind a blurred foreground"),
    ),
    moments=(
        Moment(90, "a car passes in front of the waiting cyclist and blurs the view", "Watch the car pass"),
        Moment(
            110, "the view clears and the cyclist is still waiting at the light", "Watch the cyclist wait"
        ),
    ),
)

BIG_BUCK_BUNNY = VideoNotes(
    name="bigbuckbunny.mp4",
    title="A big rabbit wakes up in front of his burrow",
    scene="An animated big grey rabbit on a grassy hillside in front of his burrow, one continuous shot",
    shots=(
        Shot(0, 131, "a big grey rabbit crawling out of his burrow, standing up, stretching and yawning"),
    ),
    moments=(
        Moment(0, "the rabbit crawls out of his burrow", "Watch the rabbit crawl out of the burrow"),
        Moment(40, "the rabbit stands upright in front of the burrow", "See him stand upright"),
        Moment(50, "the rabbit stretches his arms up and yawns", "See him stretch and yawn"),
        Moment(105, "the rabbit lowers his arms", "See him lower his arms"),
    ),
)

CARPHONE = VideoNotes(
    name="carphone_pristine.mp4",
    title="A man talks to the camera in a moving car",
    scene="A man in a dark suit and red bow tie in the passenger seat of a moving car, one continuous shot",
    shots=(Shot(0, 119, "a man in a dark suit and red bow tie talking to the camera in a moving car"),),
    moments=(
        Moment(0, "the man talks to the camera", "Watch the man talk"),
        Moment(60, "the man opens his mouth wide", "See him open his mouth wide"),
        Moment(80, "the man tilts his head to the side", "See him tilt his head"),
        Moment(113, "the man opens his mouth wide again", "See him open his mouth again"),
    ),
)

GNOME_DISPLAYS = VideoNotes(
    name="display-dual-monitors.webm",
    title="Set up a second monitor and mirror the displays in GNOME",
    scene="A GNOME desktop screen recording: the Displays settings are used to add and mirror a second monitor",
    moments=(
        Moment(15, "the Activities overview opens", "Open the Activities overview"),
        Moment(30, "the user types into the overview search", 'Type "display" into the search field'),
        Moment(49, "the overview closes as Displays is launched", "Choose Displays in the search results"),
        Moment(60, "the Displays settings window opens", "Wait for the Displays settings window"),
        Moment(
            91, 'the Acer Technologies 17" monitor is selected', 'Select the Acer Technologies 17" monitor'
        ),
        Moment(128, "the Acer monitor is switched on", "Switch the Acer monitor on"),
        Moment(
            316,
            "the Acer monitor has been dragged to the left of the laptop",
            "Drag the Acer monitor to the left of the laptop",
        ),
        Moment(424, "Mirror displays is ticked", "Tick Mirror displays"),
        Moment(451, "Apply is clicked", "Click Apply"),
        Moment(463, 'the "Does the display look OK?" dialog appears', "Wait for the confirmation dialog"),
        Moment(487, "Keep This Configuration is clicked", "Click Keep This Configuration"),
        Moment(535, "the Displays window is closed", "Close the Displays window"),
    ),
)
