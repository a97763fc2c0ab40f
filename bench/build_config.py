"""Settings of the case-set builder (`python -m bench.build_cases`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from bench.store import DEFAULT_CASES_DIR


class BuildConfig(BaseModel):
    out_dir: Path = Field(
        default=DEFAULT_CASES_DIR, description="Folder that receives version.json and the split folders."
    )
    name: str = Field(default="v2", pattern=r"^v[0-9]+$", description="Case set version name.")
    heldout_fraction: float = Field(
        default=1 / 3,
        gt=0,
        lt=1,
        description="Share of each domain's cases in the heldout split (whole recordings go to one split).",
    )
    split_salt: str = Field(
        default="tailor-bench-v2", description="Salt of the hash that orders recordings for the split."
    )
    segment_s: float = Field(
        default=2.0, gt=0, description="Video replay segment length (segments are window items)."
    )
    max_key_frames: int = Field(
        default=16, gt=0, description="Key frames stored per AnchorSet (as URI + sha256)."
    )
    gui_ocr: bool = Field(
        default=True, description="Run the GUI target-OCR expert when anchoring GUI windows."
    )
    video_ocr: bool = Field(
        default=True, description="Allow OCR on video windows that look like screen recordings."
    )
    frame_store_uri: str = Field(
        default="memory://tailor-bench/frames",
        description="Frame store the key frames go to while building; its URIs end up in the cases (the bytes "
        "are not kept: scoring needs only the sha256).",
    )
