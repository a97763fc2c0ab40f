"""Raw input records: what robot, GUI and video recorders publish."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.records.base import TailorRecord, is_none
from core.records.media import MediaRef

ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:@+=-]{0,199}$"  # no slashes: ids become file names
TENANT_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"
# a window key: an id, or `<tenant>~<id>` for a tenant's records (`~` is in no id, so namespaces never meet)
WINDOW_KEY_PATTERN = r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,63}~)?[A-Za-z0-9_][A-Za-z0-9_.:@+=-]{0,199}$"


def licence_field() -> str | None:
    return Field(  # type: ignore[no-any-return]
        default=None,
        exclude_if=is_none,  # records without one serialise as before licences were carried
        max_length=200,
        description="Licence or terms of the recording (SPDX id where one exists).",
    )


def tenant_field() -> str | None:
    return Field(  # type: ignore[no-any-return]
        default=None,
        exclude_if=is_none,  # records of the default tenant serialise as before tenants existed
        pattern=TENANT_PATTERN,
        description="The producer's tenant: its keys are windowed apart from every other tenant's "
        "(`<tenant>~<key>`). None: the default tenant. Proved by an HMAC header where the worker holds "
        "tenant keys (docs/deploy.md, Tenancy).",
    )


class VideoSegment(TailorRecord):
    """A segment of a video stream, cut at key frames (topic `tailor.raw.video`, key = stream_id)."""

    RECORD_NAME: ClassVar[str] = "VideoSegment"
    schema_version: Literal[1] = 1
    stream_id: str = Field(pattern=ID_PATTERN, description="Stream id; the Kafka key.")
    seq: int = Field(ge=0, description="Segment sequence number within the stream, from 0.")
    start_time: float = Field(ge=0, description="Segment start in stream time, seconds.")
    duration_s: float = Field(ge=0, description="Segment duration, seconds.")
    event_time: float = Field(description="Wall-clock time of the segment start, Unix seconds.")
    media: MediaRef = Field(description="The segment's container bytes (inline) or a claim-check URI.")
    codec: str | None = Field(default=None, max_length=50, description="Codec name, e.g. h264, vp8.")
    fps: float | None = Field(default=None, gt=0, description="Nominal frame rate.")
    source: str | None = Field(default=None, max_length=500, description="Original file or camera name.")
    licence: str | None = licence_field()
    tenant: str | None = tenant_field()
    is_last: bool = Field(default=False, description="True on the final segment of the stream.")


class BBox(BaseModel):
    """Axis-aligned box in screenshot pixels: left, top, width, height."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    x: float
    y: float
    w: float = Field(ge=0)
    h: float = Field(ge=0)


class GuiTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    text: str | None = Field(default=None, max_length=10_000, description="Element text or label.")
    element_id: str | None = Field(default=None, max_length=500, description="DOM / view id.")
    role: str | None = Field(default=None, max_length=100, description="Tag or accessibility role.")
    bbox: BBox | None = Field(default=None, description="Element box in screenshot pixels.")


GuiActionType = Literal[
    "click",
    "type",
    "select",
    "scroll",
    "swipe",
    "hover",
    "key",
    "home",
    "back",
    "enter",
    "done",
    "wait",
    "other",
]


class GuiAction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    type: GuiActionType
    x: float | None = Field(default=None, description="Point x in screenshot pixels (touch/click).")
    y: float | None = Field(default=None, description="Point y in screenshot pixels.")
    end_x: float | None = Field(default=None, description="Lift / end point x for scroll and swipe.")
    end_y: float | None = Field(default=None, description="Lift / end point y.")
    text: str | None = Field(default=None, max_length=10_000, description="Typed or selected text, key name.")
    target: GuiTarget | None = Field(default=None, description="The element acted on.")


class GuiStep(TailorRecord):
    """One step of a GUI trajectory (topic `tailor.raw.gui`, key = session_id)."""

    RECORD_NAME: ClassVar[str] = "GuiStep"
    schema_version: Literal[1] = 1
    session_id: str = Field(pattern=ID_PATTERN, description="Trajectory / session id; the Kafka key.")
    step_index: int = Field(ge=0, description="Step number within the session, from 0.")
    timestamp: float = Field(description="Wall-clock time of the step, Unix seconds.")
    screenshot: MediaRef | None = Field(default=None, description="Screen before the action.")
    action: GuiAction = Field(description="The action taken at this step.")
    html: str | None = Field(default=None, description="Cleaned HTML of the page or candidates.")
    accessibility: str | None = Field(default=None, description="Accessibility tree or screen parse text.")
    app: str | None = Field(default=None, max_length=500, description="Foreground app or package.")
    url: str | None = Field(default=None, max_length=4096, description="Page URL.")
    instruction: str | None = Field(default=None, max_length=10_000, description="Task instruction.")
    is_last: bool = Field(default=False, description="True on the final step of the session.")
    source: str | None = Field(default=None, max_length=500, description="Dataset or recorder name.")
    licence: str | None = licence_field()
    tenant: str | None = tenant_field()


class RobotStep(TailorRecord):
    """One control step of a robot episode (topic `tailor.raw.robot`, key = episode_id)."""

    RECORD_NAME: ClassVar[str] = "RobotStep"
    schema_version: Literal[1] = 1
    episode_id: str = Field(pattern=ID_PATTERN, description="Episode id; the Kafka key.")
    step_index: int = Field(ge=0, description="Step number within the episode, from 0.")
    timestamp: float = Field(description="Wall-clock time of the step, Unix seconds.")
    state: list[float] = Field(description="Proprioceptive state vector (finite floats).")
    action: list[float] = Field(default_factory=list, description="Commanded action vector.")
    state_names: list[str] | None = Field(default=None, description="Names of the state channels.")
    action_names: list[str] | None = Field(default=None, description="Names of the action channels.")
    gripper: float | None = Field(
        default=None, description="Gripper opening (width or normalised), if known."
    )
    cameras: dict[str, MediaRef] = Field(default_factory=dict, description="Camera images by camera name.")
    instruction: str | None = Field(default=None, max_length=10_000, description="Language instruction.")
    is_first: bool = Field(default=False, description="True on the first step of the episode.")
    is_last: bool = Field(default=False, description="True on the final step of the episode.")
    source: str | None = Field(default=None, max_length=500, description="Dataset or robot name.")
    licence: str | None = licence_field()
    tenant: str | None = tenant_field()
