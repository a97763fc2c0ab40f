"""Records produced inside Tailor: intents, anchors, examples, feedback, model updates."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.records.base import TailorRecord, is_none, is_one
from core.records.media import SHA256_PATTERN
from core.records.raw import ID_PATTERN, WINDOW_KEY_PATTERN, BBox

Domain = Literal["video", "gui", "robot"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Intent(TailorRecord):
    """A user's request for data (topic `tailor.intents`, compacted, key = intent_id)."""

    RECORD_NAME: ClassVar[str] = "Intent"
    schema_version: Literal[1] = 1
    intent_id: str = Field(
        pattern=ID_PATTERN, description="Intent id; the Kafka key (compaction keeps the latest)."
    )
    text: str = Field(min_length=1, max_length=5000, description="The request in the user's words.")
    domain: Domain | None = Field(default=None, description="Restrict to one input domain.")
    task: str | None = Field(
        default=None, max_length=100, description="Task family, when the user names one."
    )
    budget: int | None = Field(default=None, gt=0, description="Maximum examples to produce.")
    created_at: float = Field(description="Unix seconds.")
    active: bool = Field(default=True, description="False retires the intent.")


class SourceSpan(_Part):
    topic: str
    partition: int = Field(ge=0)
    first_offset: int = Field(ge=0)
    last_offset: int = Field(ge=0)
    start_time: float = Field(description="Stream time of the first item, seconds.")
    end_time: float = Field(description="Stream time of the end of the last item, seconds.")


class FrameRef(_Part):
    frame_index: int = Field(ge=0, description="Frame index within the window.")
    timestamp: float = Field(description="Stream time of the frame, seconds.")
    uri: str = Field(max_length=2048, description="Content-addressed URI in the frame store.")
    sha256: str = Field(pattern=SHA256_PATTERN)
    role: Literal["key_frame", "cited"] = Field(
        default="key_frame",
        description="key_frame: a key frame of the window; cited: stored only because an example of the "
        "window cites it (a world-model sample's conditioning frames), so its row carries the image.",
    )
    # Video key frames are stored downscaled (frame_max_side) while anchors keep the decoded frame's pixels:
    # a box or point times `scale` lands on the stored image. Robot and GUI frames are stored as sent (1.0).
    width: int | None = Field(
        default=None, exclude_if=is_none, ge=1, description="Stored image width, pixels (None: not recorded)."
    )
    height: int | None = Field(
        default=None,
        exclude_if=is_none,
        ge=1,
        description="Stored image height, pixels (None: not recorded).",
    )
    scale: float = Field(
        default=1.0,
        exclude_if=is_one,
        gt=0,
        le=1e4,
        description="Stored image pixels per anchor pixel (bbox and point fields).",
    )


class Anchor(_Part):
    anchor_id: str = Field(max_length=200, description="Stable id within the window.")
    type: str = Field(max_length=64, description="Anchor type, e.g. scene_cut, gui_action, gripper_close.")
    frame_index: int = Field(ge=0, description="Frame or step index within the window.")
    timestamp: float = Field(description="Stream time, seconds.")
    end_frame_index: int | None = Field(default=None, ge=0, description="End of a span anchor (inclusive).")
    end_timestamp: float | None = Field(default=None)
    bbox: BBox | None = Field(default=None, description="Where it applies, in pixels.")
    point: tuple[float, float] | None = Field(default=None, description="(x, y) point, pixels.")
    content: str = Field(default="", max_length=20_000, description="Human-readable content.")
    value: float | None = Field(default=None, description="Numeric magnitude where one applies.")
    evidence_frames: list[int] = Field(default_factory=list, description="Frame indices that show it.")


class AnchorSet(TailorRecord):
    """Factual anchors of one window of one key (topic `tailor.anchors`, key = window_id)."""

    RECORD_NAME: ClassVar[str] = "AnchorSet"
    schema_version: Literal[1] = 1
    window_id: str = Field(max_length=300)
    domain: Domain
    key: str = Field(
        pattern=WINDOW_KEY_PATTERN,
        description="Stream, session or episode id (`<tenant>~<id>` for a tenant's records).",
    )
    span: SourceSpan
    num_frames: int = Field(ge=0, description="Frames or steps in the window.")
    key_frames: list[FrameRef] = Field(default_factory=list)
    anchors: list[Anchor] = Field(default_factory=list)
    instruction: str | None = Field(default=None, max_length=10_000)
    recording: str | None = Field(
        default=None,
        exclude_if=is_none,
        max_length=500,
        description="The source recording (the raw records' `source`).",
    )
    licence: str | None = Field(
        default=None, exclude_if=is_none, max_length=200, description="The recording's licence or terms."
    )
    created_at: float


class Example(TailorRecord):
    """A validated tailored example (topic `tailor.examples`, key = example_id)."""

    RECORD_NAME: ClassVar[str] = "Example"
    schema_version: Literal[1] = 1
    example_id: str = Field(max_length=200, description="Deterministic id: replays never duplicate.")
    task_family: str = Field(max_length=64)
    output_json: str = Field(
        max_length=1_000_000, description="The example in its task family's JSON schema."
    )
    window_id: str = Field(max_length=300)
    intent_id: str | None = None
    intent_ids: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="Every intent whose job produced this same content for the window (intent_id is the first); "
        "intents that map to one family share one example instead of each getting a copy.",
    )
    source: SourceSpan
    anchor_ids: list[str] = Field(default_factory=list)
    frames: list[FrameRef] = Field(default_factory=list)
    model: str = Field(default="rules", max_length=300)
    weights_version: str | None = None
    prompt_sha256: str | None = Field(default=None, pattern=SHA256_PATTERN)
    image_frames: list[int] = Field(
        default_factory=list,
        max_length=64,
        description="Key frames the model saw as images (none: text only).",
    )
    rewards: dict[str, float] = Field(default_factory=dict, description="Reward terms by name.")
    created_at: float
    # Provenance that makes a stored example self-contained (sink schema 3): training and audits read it
    # from the row itself, not from the anchors and intents topics, whose retention may have dropped it.
    # All optional so records written before them still decode.
    prompt_json: str | None = Field(
        default=None,
        max_length=2_000_000,
        description="The chat messages the synthesis backend was sent (JSON list of {role, content}).",
    )
    intent_text: str | None = Field(default=None, max_length=5000, description="The intent's request text.")
    family_schema_sha256: str | None = Field(
        default=None,
        pattern=SHA256_PATTERN,
        description="sha256 of the task family's output JSON schema (canonical JSON): its schema version.",
    )
    anchor_set_sha256: str | None = Field(
        default=None,
        pattern=SHA256_PATTERN,
        description="sha256 of the AnchorSet the example was built from, as canonical JSON without its "
        "created_at (the window's anchor set id: the same for every copy of the window).",
    )
    cited_anchors: list[Anchor] = Field(
        default_factory=list, max_length=10_000, description="The anchors named by anchor_ids, in full."
    )
    validators: list[str] = Field(
        default_factory=list, max_length=100, description="The validators the output passed (all of them)."
    )
    min_reward: float | None = Field(
        default=None, description="The r_total floor the example cleared when it was accepted."
    )
    recording: str | None = Field(
        default=None,
        exclude_if=is_none,
        max_length=500,
        description="The source recording the window came from (sink schema 4).",
    )
    licence: str | None = Field(
        default=None,
        exclude_if=is_none,
        max_length=200,
        description="The source recording's licence or terms (sink schema 4).",
    )
    window_anchors: list[Anchor] = Field(
        default_factory=list,
        max_length=10_000,
        description="Every anchor of the window, content cut to 200 characters (cited_anchors hold the cited "
        "ones in full): the audit page's timeline, offline (sink schema 6).",
    )


class RejectedExample(TailorRecord):
    """An example that failed validation (topic `tailor.examples.rejected`)."""

    RECORD_NAME: ClassVar[str] = "RejectedExample"
    schema_version: Literal[1] = 1
    example_id: str = Field(max_length=200)
    task_family: str = Field(max_length=64)
    window_id: str = Field(max_length=300)
    reasons: list[str] = Field(min_length=1, description="Validator reason labels.")
    details: list[str] = Field(default_factory=list)
    raw_output: str = Field(default="", max_length=200_000)
    model: str = Field(default="rules", max_length=300)
    intent_id: str | None = None
    intent_ids: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="Every intent whose job produced this same content for the window (intent_id is the first); "
        "intents that map to one family share one example instead of each getting a copy.",
    )
    weights_version: str | None = None
    prompt_sha256: str | None = Field(default=None, pattern=SHA256_PATTERN)
    image_frames: list[int] = Field(
        default_factory=list,
        max_length=64,
        description="Key frames the model saw as images (none: text only).",
    )
    rewards: dict[str, float] = Field(
        default_factory=dict, description="Reward terms (rejected outputs score too)."
    )
    created_at: float
    # Where the candidate came from, so the rejected table audits without Kafka (optional: older records lack it)
    source: SourceSpan | None = Field(
        default=None, exclude_if=is_none, description="The window's source positions and stream times."
    )
    intent_text: str | None = Field(
        default=None, exclude_if=is_none, max_length=5000, description="The intent's request text."
    )
    window_anchors: list[Anchor] = Field(
        default_factory=list,
        max_length=10_000,
        description="Every anchor of the window, content cut to 200 characters (the audit timeline).",
    )


class FamilySkip(TailorRecord):
    """A task family an intent asked for that produced nothing for a window, and why (topic `tailor.skips`)."""

    RECORD_NAME: ClassVar[str] = "FamilySkip"
    schema_version: Literal[1] = 1
    window_id: str = Field(max_length=300)
    domain: Domain
    task_family: str = Field(max_length=64)
    intent_ids: list[str] = Field(default_factory=list, description="The intents that asked for it.")
    reason: str = Field(max_length=100, description="Short label, also the metric's reason label.")
    detail: str = Field(max_length=2000, description="What the window lacked, in words.")
    worker: str = Field(max_length=200)
    created_at: float


class Feedback(TailorRecord):
    """Downstream results (topic `tailor.feedback`)."""

    RECORD_NAME: ClassVar[str] = "Feedback"
    schema_version: Literal[1] = 1
    feedback_id: str = Field(max_length=200)
    kind: Literal["example_utility", "batch_metric", "preference"]
    example_ids: list[str] = Field(default_factory=list, max_length=100_000)
    utility: float | None = Field(default=None, description="Per-example utility (example_utility).")
    metric: str | None = Field(default=None, max_length=200, description="Metric name (batch_metric).")
    value: float | None = Field(default=None, description="Metric value (batch_metric).")
    chosen_id: str | None = Field(default=None, description="Preferred example (preference).")
    rejected_id: str | None = Field(default=None, description="Dispreferred example (preference).")
    source: str = Field(default="user", max_length=200, description="Who measured it.")
    created_at: float


class ModelUpdate(TailorRecord):
    """A published weights version (topic `tailor.model.updates`)."""

    RECORD_NAME: ClassVar[str] = "ModelUpdate"
    schema_version: Literal[1] = 1
    version: str = Field(max_length=100)
    kind: Literal["lora", "full"]
    base_model: str = Field(max_length=300)
    uri: str = Field(max_length=2048, description="Model-store URI of the safetensors.")
    sha256: str = Field(pattern=SHA256_PATTERN)
    metrics: dict[str, float] = Field(default_factory=dict)
    trained_on: list[str] = Field(default_factory=list, description="Example ids used for training.")
    rollback_of: str | None = None
    created_at: float
    seq: int | None = Field(
        default=None,
        ge=1,
        description="The model store's announcement number (`updates/<seq>.json`, signed with the manifest "
        "when the trainer has a key): workers apply updates in this order, never by created_at.",
    )


class DeadLetter(TailorRecord):
    """Input that could not be processed (topic `tailor.dlq`)."""

    RECORD_NAME: ClassVar[str] = "DeadLetter"
    schema_version: Literal[1] = 1
    reason: str = Field(max_length=100, description="Short label, also the metric's reason label.")
    detail: str = Field(max_length=2000, description="Human-readable error.")
    stage: str = Field(max_length=100, description="Pipeline stage that failed.")
    source_topic: str
    source_partition: int
    source_offset: int
    key: bytes | None = Field(default=None, description="Original key (base64).")
    payload: bytes = Field(description="Original value, cut to the configured cap (base64).")
    payload_size: int = Field(ge=0, description="Size of the original value.")
    truncated: bool
    worker: str = Field(max_length=200)
    created_at: float
